package io.romulus.xen.internal.image;

import static io.romulus.xen.internal.image.StreamFormat.MAX_BATCH_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.PAGE_DATA_HEADER_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.PAGE_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.RECORD_HEADER_SIZE;

/**
 * Where each part of a {@link ReplicaImage} file is.
 *
 * <p>Offsets in bytes; every part but the tail has a fixed place, so nothing moves when a part is rewritten:
 * <ol>
 * <li>0: libvirt's libxl save header (64 bytes, version 2, {@code xmlLen} = {@link #XML_CAPACITY}), then the
 * domain XML, NUL-terminated and padded with NULs to {@link #XML_CAPACITY} bytes.</li>
 * <li>{@link #LIBXL_HEADER_OFFSET}: the libxl stream header and its {@code LIBXC_CONTEXT} record.</li>
 * <li>{@link #IMAGE_HEADER_OFFSET}: the libxc image header and domain header (type
 * {@link StreamFormat#DOMAIN_X86_HVM} for HVM and PVH domains alike, as libxc saves them).</li>
 * <li>{@link #STATIC_OFFSET}: the static data, {@link #STATIC_CAPACITY} bytes to {@link #FIRST_REGION_OFFSET}:
 * {@code X86_CPUID_POLICY} and {@code X86_MSR_POLICY} when not empty, a Romulus padding record
 * ({@link StreamFormat#REC_ROMULUS_PADDING}, optional) that fills the rest, and {@code STATIC_DATA_END}.</li>
 * <li>From {@link #FIRST_REGION_OFFSET}, one region every {@link #REGION_STRIDE} bytes, each of
 * {@link StreamFormat#MAX_BATCH_SIZE} slots (the last one of what is left): a padding record, then one
 * {@code PAGE_DATA} record whose pfn array ends at {@link #REGION_HEAD} bytes into the region, so that the pages of
 * every region start on a page boundary of the file.</li>
 * <li>{@link #tailOffset}: the tail, rewritten by every apply: libxc's {@code X86_TSC_INFO}, {@code HVM_PARAMS},
 * {@code HVM_CONTEXT}, {@code END}, then libxl's {@code EMULATOR_XENSTORE_DATA} and {@code EMULATOR_CONTEXT} (when
 * the domain has a device model) and {@code END}. The file ends there.</li>
 * </ol>
 */
final class ImageLayout {

    /** Bytes reserved for the domain XML and its NUL: libvirt's {@code xmlLen}, fixed. */
    static final int XML_CAPACITY = 256 << 10;
    /** The libxl stream header, after libvirt's header and the XML. */
    static final long LIBXL_HEADER_OFFSET = StreamFormat.LIBVIRT_HEADER_SIZE + XML_CAPACITY;
    /** The libxc image header, after the libxl header and the {@code LIBXC_CONTEXT} record. */
    static final long IMAGE_HEADER_OFFSET =
            LIBXL_HEADER_OFFSET + StreamFormat.LIBXL_HEADER_SIZE + RECORD_HEADER_SIZE;
    /** The libxc domain header. */
    static final long DOMAIN_HEADER_OFFSET = IMAGE_HEADER_OFFSET + StreamFormat.IMAGE_HEADER_SIZE;
    /** The static data region. */
    static final long STATIC_OFFSET = DOMAIN_HEADER_OFFSET + StreamFormat.DOMAIN_HEADER_SIZE;
    /** The first page region: the static region ends here, on a page boundary (320 KiB). */
    static final long FIRST_REGION_OFFSET = 320 << 10;
    /** Bytes of the static data region, {@code STATIC_DATA_END} included. */
    static final int STATIC_CAPACITY = (int) (FIRST_REGION_OFFSET - STATIC_OFFSET);
    /** Bytes of a region before its pages: padding record, {@code PAGE_DATA} header and pfn array. */
    static final int REGION_HEAD = 3 * PAGE_SIZE;
    /** Bytes from one region to the next. */
    static final long REGION_STRIDE = REGION_HEAD + (long) MAX_BATCH_SIZE * PAGE_SIZE;
    /** Slots an image can have at the most (4 PiB of guest memory: offsets stay far inside a long). */
    static final long MAX_SLOTS = 1L << 40;

    private ImageLayout() {
    }

    /** Regions of an image of {@code slotCount} slots. */
    static long regionCount(long slotCount) {
        return (slotCount + MAX_BATCH_SIZE - 1) / MAX_BATCH_SIZE;
    }

    /** Slots (pages) of region {@code region} of an image of {@code slotCount} slots. */
    static int regionPages(long slotCount, long region) {
        return (int) Math.min(MAX_BATCH_SIZE, slotCount - region * MAX_BATCH_SIZE);
    }

    /** Where region {@code region} starts: its padding record. */
    static long regionOffset(long region) {
        return FIRST_REGION_OFFSET + region * REGION_STRIDE;
    }

    /** Where the {@code PAGE_DATA} record of region {@code region} starts. */
    static long pageDataOffset(long slotCount, long region) {
        return pfnArrayOffset(slotCount, region) - PAGE_DATA_HEADER_SIZE - RECORD_HEADER_SIZE;
    }

    /** Where the pfn array of region {@code region} starts. */
    static long pfnArrayOffset(long slotCount, long region) {
        return regionOffset(region) + REGION_HEAD - (long) regionPages(slotCount, region) * Long.BYTES;
    }

    /** Where the page of slot {@code slot} is: always on a page boundary of the file. */
    static long pageOffset(long slot) {
        return regionOffset(slot / MAX_BATCH_SIZE) + REGION_HEAD + (slot % MAX_BATCH_SIZE) * PAGE_SIZE;
    }

    /** Where the tail starts, after the last page, in an image of {@code slotCount} slots. */
    static long tailOffset(long slotCount) {
        return pageOffset(slotCount - 1) + PAGE_SIZE;
    }

    /** Body length of the padding record in front of a region of {@code pages} pages. */
    static int regionPaddingLength(int pages) {
        return REGION_HEAD - pages * Long.BYTES - PAGE_DATA_HEADER_SIZE - 2 * RECORD_HEADER_SIZE;
    }
}
