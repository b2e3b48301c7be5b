package io.romulus.xen.internal.image;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@link XenImageParser} found in a valid save image. Guest pages are not copied: the image keeps the file open
 * and reads a page on demand, so close it when done.
 */
public final class ParsedImage implements AutoCloseable {

    /** The stream layer a record belongs to. */
    public enum Layer { LIBXL, LIBXC }

    /** One record in stream order; {@code type} is the raw 32-bit type (optional ones have bit 31 set). */
    public record SeenRecord(Layer layer, int type) {
    }

    /** The X86_TSC_INFO record. */
    public record Tsc(int mode, int khz, long nsec, int incarnation) {
    }

    /** One key/value pair of an EMULATOR_XENSTORE_DATA record. */
    public record XenstoreEntry(String key, String value) {
    }

    int libvirtVersion;
    String xml;
    int libxlVersion;
    int libxcVersion;
    int domainType;
    int pageShift;
    int xenMajor;
    int xenMinor;
    byte[] cpuidPolicy;
    byte[] msrPolicy;
    boolean staticDataEndSeen;
    Tsc tsc;
    final Map<Long, Long> hvmParams = new TreeMap<>();
    byte[] hvmContext;
    List<XenstoreEntry> emulatorXenstore;
    byte[] emulatorContext;
    int emulatorId = -1;
    final Map<Layer, Integer> skippedOptional = new EnumMap<>(Map.of(Layer.LIBXL, 0, Layer.LIBXC, 0));
    final List<SeenRecord> records = new ArrayList<>();
    /** pfn -> file offset of the latest page data for it (types without data do not overwrite what is there). */
    final Map<Long, Long> pageOffsets = new HashMap<>();
    /** pfn -> the PFINFO type (0x0..0xf) of its latest appearance. */
    final Map<Long, Integer> pfnTypes = new HashMap<>();
    private final FileChannel channel;

    ParsedImage(FileChannel channel) {
        this.channel = channel;
    }

    public int libvirtVersion() { return libvirtVersion; }
    public String xml() { return xml; }
    public int libxlVersion() { return libxlVersion; }
    public int libxcVersion() { return libxcVersion; }
    /** 1 x86 PV, 2 x86 HVM, 3 x86 PVH, 4 ARM. */
    public int domainType() { return domainType; }
    public int pageShift() { return pageShift; }
    public int xenMajor() { return xenMajor; }
    public int xenMinor() { return xenMinor; }
    /** The latest X86_CPUID_POLICY body, or null. */
    public byte[] cpuidPolicy() { return copy(cpuidPolicy); }
    /** The latest X86_MSR_POLICY body, or null. */
    public byte[] msrPolicy() { return copy(msrPolicy); }
    /** Whether an explicit STATIC_DATA_END record was in the stream (a v2 stream may only imply it). */
    public boolean staticDataEndSeen() { return staticDataEndSeen; }
    /** The latest X86_TSC_INFO, or null. */
    public Tsc tsc() { return tsc; }
    /** HVM parameter index -> value, merged over all HVM_PARAMS records (later ones win). */
    public Map<Long, Long> hvmParams() { return Collections.unmodifiableMap(hvmParams); }
    /** The latest HVM_CONTEXT blob, or null. */
    public byte[] hvmContext() { return copy(hvmContext); }
    /** The pairs of the latest EMULATOR_XENSTORE_DATA record, or null. */
    public List<XenstoreEntry> emulatorXenstore() { return emulatorXenstore; }
    /** The emulator blob of the latest EMULATOR_CONTEXT record (after its 8-byte header), or null. */
    public byte[] emulatorContext() { return copy(emulatorContext); }
    /** The emulator_id of the emulator records, or -1 when there were none. */
    public int emulatorId() { return emulatorId; }
    /** How many optional records (type bit 31 set) the layer had and a reader may skip. */
    public int skippedOptional(Layer layer) { return skippedOptional.get(layer); }
    /** Every record of both layers in stream order. */
    public List<SeenRecord> records() { return Collections.unmodifiableList(records); }

    /** Every pfn the PAGE_DATA records named, sorted. */
    public long[] pfns() {
        return pfnTypes.keySet().stream().mapToLong(Long::longValue).sorted().toArray();
    }

    /** The PFINFO type (0x0..0xf) of the pfn's latest appearance, or -1 if no PAGE_DATA named it. */
    public int pfnType(long pfn) {
        return pfnTypes.getOrDefault(pfn, -1);
    }

    /** The latest page_size bytes of data sent for the pfn, or null if none was. */
    public byte[] page(long pfn) {
        Long at = pageOffsets.get(pfn);
        if (at == null) {
            return null;
        }
        ByteBuffer page = ByteBuffer.allocate(1 << pageShift);
        try {
            while (page.hasRemaining() && channel.read(page, at + page.position()) >= 0) {
                // positional reads until full
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return page.array();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private static byte[] copy(byte[] b) {
        return b == null ? null : b.clone();
    }
}
