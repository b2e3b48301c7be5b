package io.romulus.xen.internal.image;

import static io.romulus.xen.internal.image.ImageLayout.DOMAIN_HEADER_OFFSET;
import static io.romulus.xen.internal.image.ImageLayout.LIBXL_HEADER_OFFSET;
import static io.romulus.xen.internal.image.ImageLayout.MAX_SLOTS;
import static io.romulus.xen.internal.image.ImageLayout.STATIC_CAPACITY;
import static io.romulus.xen.internal.image.ImageLayout.STATIC_OFFSET;
import static io.romulus.xen.internal.image.ImageLayout.XML_CAPACITY;
import static io.romulus.xen.internal.image.ImageLayout.pageDataOffset;
import static io.romulus.xen.internal.image.ImageLayout.pageOffset;
import static io.romulus.xen.internal.image.ImageLayout.pfnArrayOffset;
import static io.romulus.xen.internal.image.ImageLayout.regionCount;
import static io.romulus.xen.internal.image.ImageLayout.regionOffset;
import static io.romulus.xen.internal.image.ImageLayout.regionPages;
import static io.romulus.xen.internal.image.ImageLayout.regionPaddingLength;
import static io.romulus.xen.internal.image.ImageLayout.tailOffset;
import static io.romulus.xen.internal.image.StreamFormat.MAX_BATCH_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.PAGE_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.RECORD_HEADER_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.RECORD_LENGTH_MAX;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Objects;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The replica of a protected Xen domain, kept as a complete Xen domain image file that libvirt restores
 * ({@code virDomainRestore}, libxl, libxc). Pages are written in place at offsets fixed by their slot; after each
 * {@link #apply} the file is a valid image of the memory written so far and of the applied device state.
 *
 * <p>Every part of the file has a fixed place ({@link ImageLayout}) but the tail, after the last page, which every
 * apply rewrites; so nothing moves when a part is rewritten.
 * Memory is sparse: creating the image writes only the headers; a page takes disk space once written.
 *
 * <p>Not thread-safe: one thread (the backup's epoch applier) drives an image.
 */
public final class ReplicaImage implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicaImage.class);

    private final FileChannel channel;
    private final Path file;
    private final long slotCount;
    private final long tailOffset;
    /** Where the file ends (or may end, after a failed write). */
    private long end;
    private boolean applied;

    // What the file holds of each part, or null when unknown (not yet written, or a write failed).
    private String fileXml;
    /** Bytes after the header that may be other than NUL. */
    private int xmlExtent;
    private DomainHeader fileHeader;
    private byte[] fileCpuid;
    private byte[] fileMsr;
    private long[] fileRanges;

    private final ByteBuffer small = ByteBuffer.allocateDirect(64).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer pfnBuffer =
            ByteBuffer.allocateDirect(MAX_BATCH_SIZE * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final long[] newPfns = new long[MAX_BATCH_SIZE];
    private final long[] oldPfns = new long[MAX_BATCH_SIZE];
    private ByteBuffer staticBuffer;
    private ByteBuffer tailBuffer;

    private record DomainHeader(int xenMajor, int xenMinor) {
    }

    private ReplicaImage(FileChannel channel, Path file, long slotCount) {
        this.channel = channel;
        this.file = file;
        this.slotCount = slotCount;
        this.tailOffset = tailOffset(slotCount);
    }

    /**
     * Creates (or replaces) the image file for {@code slotCount} slots, with every part that does not depend on the
     * device state written: headers, an empty static region, the region headers with zeroed pfn arrays. The file is
     * not restorable until the first {@link #apply}.
     */
    public static ReplicaImage create(Path file, long slotCount) throws IOException {
        if (slotCount <= 0 || slotCount > MAX_SLOTS) {
            throw new IllegalArgumentException("a replica image has 1 to " + MAX_SLOTS + " slots, not " + slotCount);
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
        ReplicaImage image = new ReplicaImage(channel, file, slotCount);
        try {
            image.layOut();
        } catch (IOException | RuntimeException e) {
            image.close();
            throw e;
        }
        LOG.debug("Created replica image {}: {} slots in {} regions, {} bytes before the tail", file, slotCount,
                regionCount(slotCount), image.tailOffset);
        return image;
    }

    /**
     * Opens an image that {@link #create} made for {@code slotCount} slots, as it is on disk (a replica handed over
     * across an update of the binding). Nothing is known of what the file holds: the first {@link #apply} rewrites
     * every part but the pages.
     *
     * @throws IOException when the file is not such an image: its libvirt header differs or it is shorter than the
     *                     part before the tail
     */
    public static ReplicaImage open(Path file, long slotCount) throws IOException {
        if (slotCount <= 0 || slotCount > MAX_SLOTS) {
            throw new IllegalArgumentException("a replica image has 1 to " + MAX_SLOTS + " slots, not " + slotCount);
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        ReplicaImage image = new ReplicaImage(channel, file, slotCount);
        try {
            image.small.clear();
            RecordWriter.libvirtHeader(image.small, XML_CAPACITY);
            ByteBuffer expected = image.small.flip();
            ByteBuffer found = ByteBuffer.allocate(expected.remaining());
            while (found.hasRemaining() && channel.read(found, found.position()) >= 0) {
                // reads until full or end of file
            }
            long size = channel.size();
            if (!found.flip().equals(expected) || size < image.tailOffset) {
                throw new IOException(file + " is not a replica image of " + slotCount + " pages (" + size
                        + " bytes, the pages end at " + image.tailOffset + ")");
            }
            image.end = size;
            image.xmlExtent = XML_CAPACITY;
        } catch (IOException | RuntimeException e) {
            image.close();
            throw e;
        }
        return image;
    }

    private void layOut() throws IOException {
        small.clear();
        RecordWriter.libvirtHeader(small, XML_CAPACITY);
        write(small.flip(), 0);

        small.clear();
        RecordWriter.libxlHeader(small);
        RecordWriter.emptyRecord(small, StreamFormat.LIBXL_REC_LIBXC_CONTEXT);
        RecordWriter.imageHeader(small);
        RecordWriter.domainHeader(small, StreamFormat.DOMAIN_X86_HVM, 0, 0);
        write(small.flip(), LIBXL_HEADER_OFFSET);

        writeStatic(new byte[0], new byte[0]);

        for (long r = 0; r < regionCount(slotCount); r++) {
            int pages = regionPages(slotCount, r);
            small.clear();
            RecordWriter.recordHeader(small, StreamFormat.REC_ROMULUS_PADDING, regionPaddingLength(pages));
            write(small.flip(), regionOffset(r));
            small.clear();
            RecordWriter.recordHeader(small, StreamFormat.REC_PAGE_DATA, RecordWriter.pageDataLength(pages));
            small.putInt(pages).putInt(0);
            write(small.flip(), pageDataOffset(slotCount, r));
        }

        // the last page's last byte: the file reaches the tail without writing the pages
        small.clear();
        small.put((byte) 0);
        write(small.flip(), tailOffset - 1);
        end = tailOffset;
    }

    /**
     * Writes the pages of {@code slots[from .. from+count-1]}, taken one after the other from {@code pages}' position
     * (which advances by {@code count} pages). Runs of consecutive slots in one region are written at once.
     *
     * @throws IllegalArgumentException when a slot is outside the image or {@code pages} holds fewer pages
     */
    public void writePages(long[] slots, int from, int count, ByteBuffer pages) throws IOException {
        Objects.checkFromIndexSize(from, count, slots.length);
        if (pages.remaining() / PAGE_SIZE < count) {
            throw new IllegalArgumentException(count + " pages to write, the buffer holds " + pages.remaining()
                    + " bytes");
        }
        for (int i = from; i < from + count; i++) {
            checkSlot(slots[i]);
        }
        int i = from;
        while (i < from + count) {
            long first = slots[i];
            int run = 1;
            while (i + run < from + count && slots[i + run] == first + run && (first + run) % MAX_BATCH_SIZE != 0) {
                run++;
            }
            int bytes = run * PAGE_SIZE;
            write(pages.slice(pages.position(), bytes), pageOffset(first));
            pages.position(pages.position() + bytes);
            i += run;
        }
    }

    /** Reads the page of {@code slot} into {@code dst} at its position, which advances by a page. */
    public void readPage(long slot, ByteBuffer dst) throws IOException {
        checkSlot(slot);
        if (dst.remaining() < PAGE_SIZE) {
            throw new IllegalArgumentException("a page needs " + PAGE_SIZE + " bytes, the buffer has "
                    + dst.remaining());
        }
        ByteBuffer page = dst.slice(dst.position(), PAGE_SIZE);
        long at = pageOffset(slot);
        while (page.hasRemaining()) {
            if (channel.read(page, at + page.position()) < 0) {
                throw new EOFException(file + " ends at " + (at + page.position()) + ", inside the page of slot "
                        + slot);
            }
        }
        dst.position(dst.position() + PAGE_SIZE);
    }

    private void checkSlot(long slot) {
        if (slot < 0 || slot >= slotCount) {
            throw new IllegalArgumentException("slot " + slot + " is outside the replica's 0.." + (slotCount - 1));
        }
    }

    /**
     * Makes the file a complete image of the pages written so far and {@code state}: writes the XML, the domain
     * header and the static data where they changed, the pfn arrays of the regions whose pfns changed, and the tail,
     * and ends the file after the tail. A state the image cannot hold is refused before anything is written.
     *
     * @throws IllegalArgumentException when {@code state} has another number of pages than the image has slots, or
     *                                  a part does not fit its place in the image
     */
    public void apply(XenDeviceState state) throws IOException {
        if (state.slotCount() != slotCount) {
            throw new IllegalArgumentException("the device state has " + state.slotCount()
                    + " populated guest pages, the replica image " + file + " has " + slotCount + " slots");
        }
        byte[] xml = state.domainXml().getBytes(StandardCharsets.UTF_8);
        if (xml.length + 1 > XML_CAPACITY) {
            throw new IllegalArgumentException("the domain XML takes " + (xml.length + 1)
                    + " bytes with its NUL, the image reserves " + XML_CAPACITY + " bytes for it");
        }
        int staticUsed = policyRecordSize(state.cpuidPolicy(), "CPUID policy")
                + policyRecordSize(state.msrPolicy(), "MSR policy") + RECORD_HEADER_SIZE;
        if (staticUsed > STATIC_CAPACITY) {
            throw new IllegalArgumentException("the CPUID and MSR policies take " + staticUsed
                    + " bytes with their records, the image's static region has " + STATIC_CAPACITY);
        }
        int tailSize = tailSize(state);

        if (!state.domainXml().equals(fileXml)) {
            writeXml(state.domainXml(), xml);
        }
        DomainHeader header = new DomainHeader(state.xenMajor(), state.xenMinor());
        if (!header.equals(fileHeader)) {
            fileHeader = null;
            small.clear();
            RecordWriter.domainHeader(small, StreamFormat.DOMAIN_X86_HVM, header.xenMajor(), header.xenMinor());
            write(small.flip(), DOMAIN_HEADER_OFFSET);
            fileHeader = header;
        }
        if (!Arrays.equals(state.cpuidPolicy(), fileCpuid) || !Arrays.equals(state.msrPolicy(), fileMsr)) {
            writeStatic(state.cpuidPolicy(), state.msrPolicy());
        }
        if (!Arrays.equals(state.gpfnRanges(), fileRanges)) {
            writePfns(state.gpfnRanges());
        }
        writeTail(state, tailSize);
        applied = true;
    }

    private static int policyRecordSize(byte[] policy, String what) {
        if (policy.length > RECORD_LENGTH_MAX) {
            throw new IllegalArgumentException("the " + what + " has " + policy.length + " bytes, a record at most "
                    + RECORD_LENGTH_MAX);
        }
        return policy.length == 0 ? 0 : (int) RecordWriter.recordSize(policy.length);
    }

    private void writeXml(String text, byte[] xml) throws IOException {
        int length = Math.max(xml.length + 1, xmlExtent);
        fileXml = null;
        xmlExtent = length;
        ByteBuffer b = ByteBuffer.allocate(length);
        b.put(xml);
        write(b.clear(), StreamFormat.LIBVIRT_HEADER_SIZE);
        fileXml = text;
        xmlExtent = xml.length + 1;
    }

    private void writeStatic(byte[] cpuid, byte[] msr) throws IOException {
        fileCpuid = null;
        fileMsr = null;
        if (staticBuffer == null) {
            staticBuffer = ByteBuffer.allocateDirect(STATIC_CAPACITY);
        }
        ByteBuffer b = staticBuffer.clear();
        if (cpuid.length > 0) {
            RecordWriter.record(b, StreamFormat.REC_X86_CPUID_POLICY, cpuid);
        }
        if (msr.length > 0) {
            RecordWriter.record(b, StreamFormat.REC_X86_MSR_POLICY, msr);
        }
        int gap = STATIC_CAPACITY - RECORD_HEADER_SIZE - b.position();
        if (gap > 0) {
            RecordWriter.paddingRecord(b, gap);
        }
        RecordWriter.emptyRecord(b, StreamFormat.REC_STATIC_DATA_END);
        write(b.flip(), STATIC_OFFSET);
        fileCpuid = cpuid;
        fileMsr = msr;
    }

    /** Rewrites the pfn arrays of the regions whose pfns differ from what the file holds (all when unknown). */
    private void writePfns(long[] ranges) throws IOException {
        long[] previous = fileRanges;
        fileRanges = null;
        PfnCursor now = new PfnCursor(ranges);
        PfnCursor before = previous == null ? null : new PfnCursor(previous);
        int rewritten = 0;
        for (long r = 0; r < regionCount(slotCount); r++) {
            int pages = regionPages(slotCount, r);
            now.fill(newPfns, pages);
            if (before != null) {
                before.fill(oldPfns, pages);
                if (Arrays.equals(newPfns, 0, pages, oldPfns, 0, pages)) {
                    continue;
                }
            }
            pfnBuffer.clear();
            RecordWriter.pfnArray(pfnBuffer, newPfns, 0, pages);
            write(pfnBuffer.flip(), pfnArrayOffset(slotCount, r));
            rewritten++;
        }
        fileRanges = ranges;
        LOG.debug("Replica image {}: pfns of {} of {} regions rewritten", file, rewritten, regionCount(slotCount));
    }

    private static int tailSize(XenDeviceState state) {
        if (state.hvmContext().length > RECORD_LENGTH_MAX
                || RecordWriter.hvmParamsLength(state.hvmParams()) > RECORD_LENGTH_MAX) {
            throw new IllegalArgumentException("the HVM context (" + state.hvmContext().length + " bytes) or the "
                    + state.hvmParams().length / 2 + " HVM params exceed a record's " + RECORD_LENGTH_MAX + " bytes");
        }
        long size = RecordWriter.recordSize(StreamFormat.TSC_INFO_SIZE)
                + (state.hvmParams().length == 0 ? 0 : RecordWriter.recordSize(
                        RecordWriter.hvmParamsLength(state.hvmParams())))
                + RecordWriter.recordSize(state.hvmContext().length)
                + RECORD_HEADER_SIZE
                + emulatorRecordSize(state.emulatorXenstore())
                + emulatorRecordSize(state.emulatorContext())
                + RECORD_HEADER_SIZE;
        if (size > Integer.MAX_VALUE - PAGE_SIZE) {
            throw new IllegalArgumentException("the device state's tail records take " + size
                    + " bytes, more than an image holds");
        }
        return (int) size;
    }

    private static long emulatorRecordSize(byte[] data) {
        return data == null ? 0 : RecordWriter.recordSize((long) StreamFormat.EMULATOR_HEADER_SIZE + data.length);
    }

    /**
     * The tail, in the order libxc's HVM save and libxl's stream write use, but for {@code HVM_PARAMS} which comes
     * before {@code HVM_CONTEXT} as the libxc spec requires (libxc restore holds the context until the stream ends,
     * so it accepts both orders).
     */
    private void writeTail(XenDeviceState state, int size) throws IOException {
        if (tailBuffer == null || tailBuffer.capacity() < size) {
            int capacity = tailBuffer == null ? size : Math.max(size, Math.min(2 * tailBuffer.capacity(),
                    Integer.MAX_VALUE - PAGE_SIZE));
            tailBuffer = ByteBuffer.allocateDirect(capacity);
        }
        ByteBuffer b = tailBuffer.clear();
        RecordWriter.tscInfo(b, state.tsc());
        if (state.hvmParams().length > 0) {
            RecordWriter.hvmParams(b, state.hvmParams());
        }
        RecordWriter.record(b, StreamFormat.REC_HVM_CONTEXT, state.hvmContext());
        RecordWriter.emptyRecord(b, StreamFormat.REC_END);
        if (state.emulatorXenstore() != null) {
            RecordWriter.emulatorRecord(b, StreamFormat.LIBXL_REC_EMULATOR_XENSTORE_DATA, state.emulatorXenstore());
        }
        if (state.emulatorContext() != null) {
            RecordWriter.emulatorRecord(b, StreamFormat.LIBXL_REC_EMULATOR_CONTEXT, state.emulatorContext());
        }
        RecordWriter.emptyRecord(b, StreamFormat.LIBXL_REC_END);
        assert b.position() == size;

        long newEnd = tailOffset + size;
        long oldEnd = end;
        end = Math.max(oldEnd, newEnd);
        write(b.flip(), tailOffset);
        if (oldEnd > newEnd) {
            channel.truncate(newEnd);
        }
        end = newEnd;
    }

    private void write(ByteBuffer src, long position) throws IOException {
        long at = position;
        while (src.hasRemaining()) {
            at += channel.write(src, at);
        }
    }

    /** The image file. */
    public Path file() {
        return file;
    }

    /** Whether {@link #apply} ever completed: only then is the file a restorable image. */
    public boolean applied() {
        return applied;
    }

    /** The image's slots: the populated guest pages it holds. */
    public long slotCount() {
        return slotCount;
    }

    /** Whether the file is open (not yet {@linkplain #close() closed}). */
    public boolean isOpen() {
        return channel.isOpen();
    }

    /** Closes the file; the image stays on disk. */
    @Override
    public void close() throws IOException {
        channel.close();
    }

    /** Walks the pfns of a set of ranges in order. */
    private static final class PfnCursor {

        private final long[] ranges;
        private int range;
        private long offset;

        PfnCursor(long[] ranges) {
            this.ranges = ranges;
        }

        void fill(long[] dst, int n) {
            for (int i = 0; i < n; i++) {
                dst[i] = ranges[range] + offset;
                if (++offset == ranges[range + 1]) {
                    range += 2;
                    offset = 0;
                }
            }
        }
    }
}
