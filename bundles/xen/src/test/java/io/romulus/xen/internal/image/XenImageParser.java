package io.romulus.xen.internal.image;

import io.romulus.xen.internal.image.ParsedImage.Layer;
import io.romulus.xen.internal.image.ParsedImage.SeenRecord;
import io.romulus.xen.internal.image.ParsedImage.XenstoreEntry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A strict, independent reader of the save images libvirt's libxl driver restores: libvirt's 64-byte header and domain
 * XML, then a libxl v2 stream whose LIBXC_CONTEXT record hands over to a libxc v2/v3 stream. Written only from
 * {@code docs/specs/libxc-migration-stream.pandoc}, {@code libxl-migration-stream.pandoc} and what Xen's restore code
 * rejects, so that it can judge the image writer; it checks more than restore does (reserved fields and padding zero,
 * record order the specifications require) and fails on the first violation with its offset.
 */
public final class XenImageParser {

    static final int PAGE_SIZE = 4096;
    static final int MAX_BATCH_SIZE = 1024;
    static final long REC_LENGTH_MAX = 128L << 20;
    static final int OPTIONAL = 0x8000_0000;

    static final int LIBXL_END = 0, LIBXC_CONTEXT = 1, EMULATOR_XENSTORE_DATA = 2, EMULATOR_CONTEXT = 3,
            CHECKPOINT_END = 4, CHECKPOINT_STATE = 5;
    private static final String[] LIBXL_NAMES = {"END", "LIBXC_CONTEXT", "EMULATOR_XENSTORE_DATA", "EMULATOR_CONTEXT",
        "CHECKPOINT_END", "CHECKPOINT_STATE"};

    static final int END = 0, PAGE_DATA = 1, X86_PV_INFO = 2, X86_PV_P2M_FRAMES = 3, X86_PV_VCPU_BASIC = 4,
            X86_PV_VCPU_EXTENDED = 5, X86_PV_VCPU_XSAVE = 6, SHARED_INFO = 7, X86_TSC_INFO = 8, HVM_CONTEXT = 9,
            HVM_PARAMS = 10, TOOLSTACK = 11, X86_PV_VCPU_MSRS = 12, VERIFY = 13, CHECKPOINT = 14,
            CHECKPOINT_DIRTY_PFN_LIST = 15, STATIC_DATA_END = 16, X86_CPUID_POLICY = 17, X86_MSR_POLICY = 18;
    private static final String[] LIBXC_NAMES = {"END", "PAGE_DATA", "X86_PV_INFO", "X86_PV_P2M_FRAMES",
        "X86_PV_VCPU_BASIC", "X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE", "SHARED_INFO", "X86_TSC_INFO", "HVM_CONTEXT",
        "HVM_PARAMS", "TOOLSTACK", "X86_PV_VCPU_MSRS", "VERIFY", "CHECKPOINT", "CHECKPOINT_DIRTY_PFN_LIST",
        "STATIC_DATA_END", "X86_CPUID_POLICY", "X86_MSR_POLICY"};

    static final int DOMAIN_X86_PV = 1, DOMAIN_X86_HVM = 2, DOMAIN_X86_PVH = 3, DOMAIN_ARM = 4;
    static final byte[] LIBVIRT_MAGIC = {'l', 'i', 'b', 'v', 'i', 'r', 't', '-', 'x', 'm', 'l', '\n', ' ', 0, ' ',
        '\r'};
    static final long LIBXL_IDENT = 0x4c6962786c466d74L; // "LibxlFmt"
    static final int LIBXC_ID = 0x58454e46; // "XENF"
    private static final Pattern XENSTORE_KEY = Pattern.compile("[A-Za-z0-9_/@-]+");

    /** A record header as read: where it starts, its raw type and its declared body length. */
    private record Header(Layer layer, long offset, int type, long length) {
        long body() {
            return offset + 8;
        }

        @Override
        public String toString() {
            String[] names = layer == Layer.LIBXL ? LIBXL_NAMES : LIBXC_NAMES;
            String name = type >= 0 && type < names.length ? names[type]
                    : (type & OPTIONAL) != 0 ? "optional" : "unknown mandatory";
            return String.format("%s %s record (type 0x%08x, length %d) at offset %d", layer.name().toLowerCase(Locale.ROOT),
                    name, type, length, offset);
        }
    }

    private final FileChannel channel;
    private final long size;
    private final ParsedImage image;
    private long pos;
    private boolean libxcDone;
    private boolean staticDataEnded;
    private boolean hvmParamsSeen;
    private long firstEmulatorRecord = -1;
    private int emulatorIndex = -1;

    private XenImageParser(FileChannel channel) throws IOException {
        this.channel = channel;
        this.size = channel.size();
        this.image = new ParsedImage(channel);
    }

    /** Reads and checks the whole file; the result keeps it open for {@link ParsedImage#page(long)}. */
    public static ParsedImage parse(Path file) throws ImageFormatException {
        FileChannel channel = null;
        try {
            channel = FileChannel.open(file);
            XenImageParser parser = new XenImageParser(channel);
            parser.parseFile();
            return parser.image;
        } catch (IOException e) {
            close(channel);
            throw new UncheckedIOException(e);
        } catch (ImageFormatException | RuntimeException e) {
            close(channel);
            throw e;
        }
    }

    private void parseFile() throws ImageFormatException {
        libvirtHeader();
        libxlHeader();
        libxlRecords(false);
        if (pos != size) {
            throw new ImageFormatException(pos, (size - pos) + " bytes follow the libxl END record");
        }
        if (firstEmulatorRecord >= 0 && image.domainType != DOMAIN_X86_HVM) {
            throw new ImageFormatException(firstEmulatorRecord, "emulator records in a domain of type "
                    + image.domainType + " (libxl accepts them for HVM only)");
        }
    }

    private void libvirtHeader() throws ImageFormatException {
        ByteBuffer h = take(64, "libvirt save header");
        byte[] magic = new byte[16];
        h.get(magic);
        if (!Arrays.equals(magic, LIBVIRT_MAGIC)) {
            throw new ImageFormatException(0, "bad libvirt magic " + hex(magic) + ", expected " + hex(LIBVIRT_MAGIC));
        }
        image.libvirtVersion = h.getInt();
        if (image.libvirtVersion == 1) {
            throw new ImageFormatException(16, "libvirt header version 1 announces a legacy (pre-v2) libxl stream");
        } else if (image.libvirtVersion != 2) {
            throw new ImageFormatException(16, "libvirt header version " + image.libvirtVersion + ", expected 1 or 2");
        }
        long xmlLen = Integer.toUnsignedLong(h.getInt());
        if (xmlLen == 0) {
            throw new ImageFormatException(20, "libvirt header xmlLen is 0");
        }
        zeros(h, 0, 24, 40, "unused bytes of the libvirt header");
        ByteBuffer xml = take(checkAvailable(64, xmlLen, "domain XML"), "domain XML");
        int nul = 0;
        while (nul < xmlLen && xml.get(nul) != 0) {
            nul++;
        }
        if (nul == xmlLen) {
            throw new ImageFormatException(64, "domain XML is not NUL-terminated within xmlLen " + xmlLen);
        } else if (nul == 0) {
            throw new ImageFormatException(64, "domain XML is empty");
        }
        zeros(xml, 64, nul + 1, (int) xmlLen - nul - 1, "bytes after the domain XML's NUL terminator");
        image.xml = new String(xml.array(), xml.arrayOffset(), nul, StandardCharsets.UTF_8);
    }

    private void libxlHeader() throws ImageFormatException {
        long at = pos;
        ByteBuffer h = take(16, "libxl stream header").order(ByteOrder.BIG_ENDIAN);
        long ident = h.getLong();
        if (ident != LIBXL_IDENT) {
            throw new ImageFormatException(at, String.format("bad libxl ident 0x%016x, expected 0x%016x (LibxlFmt)",
                    ident, LIBXL_IDENT));
        }
        image.libxlVersion = h.getInt();
        if (image.libxlVersion != 2) {
            throw new ImageFormatException(at + 8, "libxl stream version " + image.libxlVersion + ", expected 2");
        }
        int options = h.getInt();
        if ((options & 1) != 0) {
            throw new ImageFormatException(at + 12, "libxl stream is big-endian (options bit 0)");
        } else if ((options & ~3) != 0) {
            throw new ImageFormatException(at + 12, String.format("reserved libxl options bits set: 0x%08x", options));
        }
    }

    /** The libxl records until END, or, inside a libxc CHECKPOINT, until CHECKPOINT_END. */
    private void libxlRecords(boolean inCheckpoint) throws ImageFormatException {
        while (true) {
            Header h = header(Layer.LIBXL);
            if ((h.type & OPTIONAL) != 0) {
                skipOptional(h);
                continue;
            }
            switch (h.type) {
                case LIBXL_END, CHECKPOINT_END -> {
                    empty(h);
                    if ((h.type == CHECKPOINT_END) != inCheckpoint) {
                        throw new ImageFormatException(h.offset, h + (inCheckpoint
                                ? ": inside a checkpoint, expected CHECKPOINT_END" : ": not inside a checkpoint"));
                    } else if (!libxcDone && !inCheckpoint) {
                        throw new ImageFormatException(h.offset, h + ": the stream has no (complete) libxc part");
                    }
                    return;
                }
                case LIBXC_CONTEXT -> {
                    empty(h);
                    if (libxcDone || inCheckpoint) {
                        throw new ImageFormatException(h.offset, h + ": the libxc stream was already handed over");
                    }
                    libxcStream();
                }
                case EMULATOR_XENSTORE_DATA -> image.emulatorXenstore = xenstore(h, emulatorHeader(h));
                case EMULATOR_CONTEXT -> {
                    ByteBuffer body = emulatorHeader(h);
                    image.emulatorContext = new byte[body.remaining()];
                    body.get(image.emulatorContext);
                }
                case CHECKPOINT_STATE -> throw new ImageFormatException(h.offset, h + ": COLO-only, not valid here");
                default -> throw new ImageFormatException(h.offset, h + ": unknown mandatory libxl record type");
            }
        }
    }

    private ByteBuffer emulatorHeader(Header h) throws ImageFormatException {
        if (h.length < 8) {
            throw new ImageFormatException(h.offset + 4, h + ": shorter than the 8-byte emulator header");
        }
        ByteBuffer body = body(h);
        int id = body.getInt();
        int index = body.getInt();
        if (id < 0 || id > 2) {
            throw new ImageFormatException(h.body(), h + ": unknown emulator_id " + Integer.toUnsignedString(id));
        } else if (firstEmulatorRecord >= 0 && (id != image.emulatorId || index != emulatorIndex)) {
            throw new ImageFormatException(h.body(), h + ": emulator " + id + "/" + index + " differs from "
                    + image.emulatorId + "/" + emulatorIndex + " of an earlier emulator record");
        }
        if (firstEmulatorRecord < 0) {
            firstEmulatorRecord = h.offset;
        }
        image.emulatorId = id;
        emulatorIndex = index;
        return body;
    }

    private List<XenstoreEntry> xenstore(Header h, ByteBuffer body) throws ImageFormatException {
        List<XenstoreEntry> pairs = new ArrayList<>();
        while (body.hasRemaining()) {
            int keyAt = body.position();
            String key = cString(h, body, "key");
            String value = cString(h, body, "value of key '" + key + "'");
            if (!XENSTORE_KEY.matcher(key).matches() || key.startsWith("/")) {
                throw new ImageFormatException(h.body() + keyAt, h + ": xenstore key '" + key
                        + "' is not a relative key of [A-Za-z0-9_/@-]");
            } else if (!value.chars().allMatch(c -> c >= 0x20 && c < 0x7f)) {
                throw new ImageFormatException(h.body() + keyAt, h + ": value of key '" + key
                        + "' is not printable ASCII");
            }
            pairs.add(new XenstoreEntry(key, value));
        }
        return pairs;
    }

    private static String cString(Header h, ByteBuffer body, String what) throws ImageFormatException {
        int start = body.position();
        int end = start;
        while (end < body.limit() && body.get(end) != 0) {
            end++;
        }
        if (end == body.limit()) {
            throw new ImageFormatException(h.body() + start, h + ": xenstore " + what + " is not NUL-terminated"
                    + (start == body.limit() ? " (missing; odd number of strings)" : ""));
        }
        body.position(end + 1);
        return new String(body.array(), body.arrayOffset() + start, end - start, StandardCharsets.ISO_8859_1);
    }

    private void libxcStream() throws ImageFormatException {
        long at = pos;
        ByteBuffer ih = take(24, "libxc image header").order(ByteOrder.BIG_ENDIAN);
        if (ih.getLong() != -1L) {
            throw new ImageFormatException(at, "libxc image header marker is not all ones (a legacy image?)");
        }
        int id = ih.getInt();
        if (id != LIBXC_ID) {
            throw new ImageFormatException(at + 8, String.format("libxc id 0x%08x, expected 0x%08x (XENF)", id,
                    LIBXC_ID));
        }
        image.libxcVersion = ih.getInt();
        if (image.libxcVersion < 2 || image.libxcVersion > 3) {
            throw new ImageFormatException(at + 12, "libxc stream version " + image.libxcVersion + ", expected 2 or 3");
        }
        short options = ih.getShort();
        if (options != 0) {
            throw new ImageFormatException(at + 16, String.format("libxc options 0x%04x: %s", options,
                    (options & 1) != 0 ? "big-endian stream" : "reserved bits set"));
        }
        zeros(ih, at, 18, 6, "reserved bytes of the libxc image header");
        at = pos;
        ByteBuffer dh = take(16, "libxc domain header");
        image.domainType = dh.getInt();
        if (image.domainType < DOMAIN_X86_PV || image.domainType > DOMAIN_ARM) {
            throw new ImageFormatException(at, "libxc domain type " + image.domainType + ", expected 1..4");
        }
        image.pageShift = dh.get();
        if (image.pageShift != 12) {
            throw new ImageFormatException(at + 4, "page_shift " + image.pageShift + ", expected 12");
        }
        zeros(dh, at, 5, 3, "reserved bytes of the libxc domain header");
        dh.position(8);
        image.xenMajor = dh.getInt();
        image.xenMinor = dh.getInt();
        libxcRecords();
        libxcDone = true;
    }

    private void libxcRecords() throws ImageFormatException {
        boolean pv = image.domainType == DOMAIN_X86_PV;
        while (true) {
            Header h = header(Layer.LIBXC);
            if (h.length > REC_LENGTH_MAX) {
                throw new ImageFormatException(h.offset + 4, h + ": exceeds REC_LENGTH_MAX " + REC_LENGTH_MAX);
            } else if ((h.type & OPTIONAL) != 0) {
                skipOptional(h);
                continue;
            }
            switch (h.type) {
                case END -> {
                    empty(h);
                    if (image.libxcVersion >= 3 && !image.staticDataEndSeen) {
                        throw new ImageFormatException(h.offset, h + ": v3 stream without STATIC_DATA_END");
                    } else if (!pv && image.hvmContext == null) {
                        throw new ImageFormatException(h.offset, h + ": HVM stream without HVM_CONTEXT");
                    }
                    return;
                }
                case PAGE_DATA -> pageData(h);
                case STATIC_DATA_END -> {
                    empty(h);
                    if (staticDataEnded) {
                        throw new ImageFormatException(h.offset, h + ": static data already ended"
                                + (image.staticDataEndSeen ? " (second STATIC_DATA_END)" : " (implied by PAGE_DATA)"));
                    }
                    staticDataEnded = image.staticDataEndSeen = true;
                }
                case X86_CPUID_POLICY, X86_MSR_POLICY -> policy(h);
                case X86_TSC_INFO -> {
                    if (h.length != 24) {
                        throw new ImageFormatException(h.offset + 4, h + ": body must be exactly 24 bytes");
                    }
                    ByteBuffer b = body(h);
                    image.tsc = new ParsedImage.Tsc(b.getInt(), b.getInt(), b.getLong(), b.getInt());
                    zeros(b, h.body(), 20, 4, "reserved field of " + h);
                }
                case HVM_PARAMS -> hvmParams(h, pv);
                case HVM_CONTEXT -> {
                    notFor(pv, h);
                    if (!hvmParamsSeen) {
                        throw new ImageFormatException(h.offset, h + ": HVM_CONTEXT before any HVM_PARAMS");
                    } else if (h.length == 0) {
                        throw new ImageFormatException(h.offset + 4, h + ": empty HVM context");
                    }
                    image.hvmContext = body(h).array();
                }
                case VERIFY -> empty(h);
                case CHECKPOINT -> {
                    empty(h);
                    libxlRecords(true);
                }
                case X86_PV_INFO, X86_PV_P2M_FRAMES, X86_PV_VCPU_BASIC, X86_PV_VCPU_EXTENDED, X86_PV_VCPU_XSAVE,
                        X86_PV_VCPU_MSRS, SHARED_INFO -> {
                    notFor(!pv, h);
                    body(h);
                }
                case TOOLSTACK -> throw new ImageFormatException(h.offset, h + ": deprecated, no restore handles it");
                case CHECKPOINT_DIRTY_PFN_LIST ->
                    throw new ImageFormatException(h.offset, h + ": only valid on the COLO back channel");
                default -> throw new ImageFormatException(h.offset, h + ": unknown mandatory libxc record type");
            }
        }
    }

    private void notFor(boolean wrongDomain, Header h) throws ImageFormatException {
        if (wrongDomain) {
            throw new ImageFormatException(h.offset, h + ": not valid in a domain of type " + image.domainType);
        }
    }

    private void policy(Header h) throws ImageFormatException {
        int entry = h.type == X86_CPUID_POLICY ? 24 : 16;
        if (staticDataEnded) {
            throw new ImageFormatException(h.offset, h + ": CPU policy after the end of static data");
        } else if (h.length == 0 || h.length % entry != 0) {
            throw new ImageFormatException(h.offset + 4, h + ": body length must be a nonzero multiple of " + entry);
        }
        byte[] body = body(h).array();
        if (h.type == X86_CPUID_POLICY) {
            image.cpuidPolicy = body;
        } else {
            image.msrPolicy = body;
        }
    }

    private void hvmParams(Header h, boolean pv) throws ImageFormatException {
        notFor(pv, h);
        if (h.length < 8) {
            throw new ImageFormatException(h.offset + 4, h + ": shorter than its 8-byte header");
        }
        ByteBuffer b = body(h);
        long count = Integer.toUnsignedLong(b.getInt());
        if (h.length != 8 + 16 * count) {
            throw new ImageFormatException(h.body(), h + ": count " + count + " needs length " + (8 + 16 * count));
        }
        zeros(b, h.body(), 4, 4, "reserved field of " + h);
        hvmParamsSeen = true;
        b.position(8);
        for (long i = 0; i < count; i++) {
            image.hvmParams.put(b.getLong(), b.getLong());
        }
    }

    private void pageData(Header h) throws ImageFormatException {
        if (!staticDataEnded && image.libxcVersion >= 3) {
            throw new ImageFormatException(h.offset, h + ": PAGE_DATA before STATIC_DATA_END in a v3 stream");
        }
        staticDataEnded = true; // a v2 stream implies it here
        if (h.length < 8) {
            throw new ImageFormatException(h.offset + 4, h + ": shorter than its 8-byte header");
        }
        ByteBuffer hb = take(8, "PAGE_DATA header");
        long count = Integer.toUnsignedLong(hb.getInt());
        if (count == 0 || count > MAX_BATCH_SIZE) {
            throw new ImageFormatException(h.body(), h + ": count " + count + ", expected 1.." + MAX_BATCH_SIZE);
        }
        zeros(hb, h.body(), 4, 4, "reserved field of " + h);
        if (h.length < 8 + 8 * count) {
            throw new ImageFormatException(h.offset + 4, h + ": too short for " + count + " pfns");
        }
        ByteBuffer entries = take((int) (8 * count), "PAGE_DATA pfns");
        long[] pfns = new long[(int) count];
        int[] types = new int[(int) count];
        int withData = 0;
        for (int i = 0; i < count; i++) {
            long entry = entries.getLong();
            long at = h.body() + 8 + 8L * i;
            types[i] = (int) (entry >>> 60);
            pfns[i] = entry & 0x000f_ffff_ffff_ffffL;
            if ((entry & 0x0ff0_0000_0000_0000L) != 0) {
                throw new ImageFormatException(at, String.format("%s: pfn[%d] = 0x%016x has reserved bits 59-52 set",
                        h, i, entry));
            } else if (types[i] >= 5 && types[i] <= 8) {
                throw new ImageFormatException(at, String.format("%s: pfn[%d] has unknown type 0x%x", h, i, types[i]));
            } else if (types[i] <= 0xc) {
                withData++;
            }
        }
        long expected = 8 + 8 * count + (long) PAGE_SIZE * withData;
        if (h.length != expected) {
            throw new ImageFormatException(h.offset + 4, String.format("%s: expected length %d = 8 + 8*%d pfns"
                    + " + %d*%d pages of data", h, expected, count, PAGE_SIZE, withData));
        }
        long data = pos;
        for (int i = 0; i < count; i++) {
            image.pfnTypes.put(pfns[i], types[i]);
            if (types[i] <= 0xc) {
                image.pageOffsets.put(pfns[i], data);
                data += PAGE_SIZE;
            }
        }
        pos = data;
    }

    private void skipOptional(Header h) throws ImageFormatException {
        image.skippedOptional.merge(h.layer, 1, Integer::sum);
        pos += h.length;
        padding(h);
    }

    private void empty(Header h) throws ImageFormatException {
        if (h.length != 0) {
            throw new ImageFormatException(h.offset + 4, h + ": must have length 0");
        }
    }

    /** Reads a record header and checks that the body and its padding fit in the file. */
    private Header header(Layer layer) throws ImageFormatException {
        long at = pos;
        ByteBuffer b = take(8, layer.name().toLowerCase(Locale.ROOT) + " record header");
        Header h = new Header(layer, at, b.getInt(), Integer.toUnsignedLong(b.getInt()));
        checkAvailable(h.body(), h.length + (-h.length & 7), h.toString());
        image.records.add(new SeenRecord(layer, h.type));
        return h;
    }

    /** The whole body of a record (little-endian), after which its padding is checked. */
    private ByteBuffer body(Header h) throws ImageFormatException {
        if (h.length > Integer.MAX_VALUE - 8) {
            throw new ImageFormatException(h.offset + 4, h + ": too long for this reader");
        }
        ByteBuffer b = take((int) h.length, h.toString());
        padding(h);
        return b;
    }

    private void padding(Header h) throws ImageFormatException {
        int pad = (int) (-h.length & 7);
        long at = pos;
        zeros(take(pad, "padding of " + h), at, 0, pad, "padding of " + h);
    }

    private int checkAvailable(long at, long length, String what) throws ImageFormatException {
        if (length > size - at) {
            throw new ImageFormatException(at, "truncated: " + what + " needs " + length + " bytes, the file has "
                    + Math.max(0, size - at) + " left");
        }
        return (int) length;
    }

    /** Reads {@code n} bytes at the current position and moves past them. */
    private ByteBuffer take(int n, String what) throws ImageFormatException {
        checkAvailable(pos, n, what);
        ByteBuffer b = ByteBuffer.allocate(n);
        try {
            while (b.hasRemaining() && channel.read(b, pos + b.position()) >= 0) {
                // positional reads until full
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        pos += n;
        return b.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Fails at the first nonzero byte of {@code b[from, from + n)}, b having been read from file offset base. */
    private static void zeros(ByteBuffer b, long base, int from, int n, String what) throws ImageFormatException {
        for (int i = from; i < from + n; i++) {
            if (b.get(i) != 0) {
                throw new ImageFormatException(base + i, String.format("%s: byte %d is 0x%02x, must be 0",
                        what, i - from, b.get(i)));
            }
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder s = new StringBuilder();
        for (byte b : bytes) {
            s.append(String.format("%02x", b));
        }
        return s.toString();
    }

    private static void close(FileChannel channel) {
        try {
            if (channel != null) {
                channel.close();
            }
        } catch (IOException e) {
            // the parse failure is what matters
        }
    }
}
