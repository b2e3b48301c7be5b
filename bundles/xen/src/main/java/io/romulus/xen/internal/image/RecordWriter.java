package io.romulus.xen.internal.image;

import static io.romulus.xen.internal.image.StreamFormat.DOMAIN_HEADER_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.EMULATOR_HEADER_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.HVM_PARAMS_HEADER_SIZE;
import static io.romulus.xen.internal.image.StreamFormat.RECORD_ALIGN;
import static io.romulus.xen.internal.image.StreamFormat.RECORD_HEADER_SIZE;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.romulus.xen.internal.xc.XenControl.TscInfo;

/**
 * Writes the headers and records of a Xen domain image into a buffer. Every method writes at the buffer's position,
 * advances it and leaves the buffer little-endian (the byte order of the records of an x86 image; the headers that
 * the specs make big-endian are written big-endian whatever the buffer's order was). Padding is written as zeros.
 */
final class RecordWriter {

    private static final byte[] ZEROS = new byte[StreamFormat.PAGE_SIZE];

    private RecordWriter() {
    }

    /** Bytes a record with a body of {@code bodyLength} bytes takes: header, body and padding to 8. */
    static long recordSize(long bodyLength) {
        return RECORD_HEADER_SIZE + align(bodyLength);
    }

    /** {@code length} rounded up to a multiple of 8. */
    static long align(long length) {
        return (length + RECORD_ALIGN - 1) & -RECORD_ALIGN;
    }

    /** libvirt's libxl save header: magic, version, {@code xmlLen}, ten unused words; 64 bytes. */
    static void libvirtHeader(ByteBuffer dst, int xmlLen) {
        dst.order(ByteOrder.LITTLE_ENDIAN);
        dst.put(StreamFormat.LIBVIRT_MAGIC);
        dst.putInt(StreamFormat.LIBVIRT_SAVE_VERSION);
        dst.putInt(xmlLen);
        zeros(dst, StreamFormat.LIBVIRT_HEADER_SIZE - StreamFormat.LIBVIRT_MAGIC.length - 8);
    }

    /** The libxl stream header (big-endian): ident, version 2, options 0 (little-endian records). */
    static void libxlHeader(ByteBuffer dst) {
        dst.order(ByteOrder.BIG_ENDIAN);
        dst.putLong(StreamFormat.LIBXL_IDENT);
        dst.putInt(StreamFormat.LIBXL_VERSION);
        dst.putInt(0);
        dst.order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The libxc image header (big-endian): marker, id, version 3, options 0 (little-endian), reserved. */
    static void imageHeader(ByteBuffer dst) {
        dst.order(ByteOrder.BIG_ENDIAN);
        dst.putLong(StreamFormat.IHDR_MARKER);
        dst.putInt(StreamFormat.IHDR_ID);
        dst.putInt(StreamFormat.IHDR_VERSION);
        dst.putShort((short) 0);
        dst.putShort((short) 0);
        dst.putInt(0);
        dst.order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The libxc domain header: type, page_shift 12, reserved, Xen's version. */
    static void domainHeader(ByteBuffer dst, int type, int xenMajor, int xenMinor) {
        dst.order(ByteOrder.LITTLE_ENDIAN);
        int start = dst.position();
        dst.putInt(type);
        dst.putShort((short) StreamFormat.PAGE_SHIFT);
        dst.putShort((short) 0);
        dst.putInt(xenMajor);
        dst.putInt(xenMinor);
        assert dst.position() - start == DOMAIN_HEADER_SIZE;
    }

    /** A record header: type and body length. The caller writes the body and then {@link #padding}. */
    static void recordHeader(ByteBuffer dst, int type, int bodyLength) {
        dst.order(ByteOrder.LITTLE_ENDIAN);
        dst.putInt(type);
        dst.putInt(bodyLength);
    }

    /** The zeros after a body of {@code bodyLength} bytes that end the record on a multiple of 8. */
    static void padding(ByteBuffer dst, long bodyLength) {
        zeros(dst, (int) (align(bodyLength) - bodyLength));
    }

    /** A whole record: header, {@code body}, padding. */
    static void record(ByteBuffer dst, int type, byte[] body) {
        recordHeader(dst, type, body.length);
        dst.put(body);
        padding(dst, body.length);
    }

    /** A record without a body ({@code END}, {@code STATIC_DATA_END}, {@code LIBXC_CONTEXT}). */
    static void emptyRecord(ByteBuffer dst, int type) {
        recordHeader(dst, type, 0);
    }

    /** An optional record of zeros that takes exactly {@code size} bytes (a multiple of 8, at least 8). */
    static void paddingRecord(ByteBuffer dst, int size) {
        if (size < RECORD_HEADER_SIZE || size % RECORD_ALIGN != 0) {
            throw new IllegalArgumentException("a padding record takes a multiple of 8 bytes, at least 8, not " + size);
        }
        recordHeader(dst, StreamFormat.REC_ROMULUS_PADDING, size - RECORD_HEADER_SIZE);
        zeros(dst, size - RECORD_HEADER_SIZE);
    }

    /** {@code X86_TSC_INFO}: mode, khz, nsec, incarnation, reserved. */
    static void tscInfo(ByteBuffer dst, TscInfo tsc) {
        recordHeader(dst, StreamFormat.REC_X86_TSC_INFO, StreamFormat.TSC_INFO_SIZE);
        dst.putInt(tsc.mode());
        dst.putInt(tsc.khz());
        dst.putLong(tsc.nsec());
        dst.putInt(tsc.incarnation());
        dst.putInt(0);
    }

    /** Body length of {@code HVM_PARAMS} with {@code pairs.length / 2} parameters. */
    static int hvmParamsLength(long[] pairs) {
        return HVM_PARAMS_HEADER_SIZE + pairs.length * Long.BYTES;
    }

    /** {@code HVM_PARAMS}: count, reserved, then the {@code index, value} pairs. */
    static void hvmParams(ByteBuffer dst, long[] pairs) {
        recordHeader(dst, StreamFormat.REC_HVM_PARAMS, hvmParamsLength(pairs));
        dst.putInt(pairs.length / 2);
        dst.putInt(0);
        for (long v : pairs) {
            dst.putLong(v);
        }
    }

    /**
     * The start of a {@code PAGE_DATA} record of {@code count} normal pages: record header, count, reserved and the
     * pfn array ({@code pfns[from .. from+count-1]}, type {@code NOTAB}). The {@code count} pages follow it.
     */
    static void pageDataHeader(ByteBuffer dst, long[] pfns, int from, int count) {
        recordHeader(dst, StreamFormat.REC_PAGE_DATA, pageDataLength(count));
        dst.putInt(count);
        dst.putInt(0);
        pfnArray(dst, pfns, from, count);
    }

    /** The pfn entries of a {@code PAGE_DATA} record: type {@code NOTAB} (0) in bits 63-60, the pfn in bits 51-0. */
    static void pfnArray(ByteBuffer dst, long[] pfns, int from, int count) {
        dst.order(ByteOrder.LITTLE_ENDIAN);
        for (int i = from; i < from + count; i++) {
            if ((pfns[i] & ~StreamFormat.PFN_MASK) != 0) {
                throw new IllegalArgumentException("pfn " + Long.toHexString(pfns[i]) + " does not fit in 52 bits");
            }
            dst.putLong(pfns[i]);
        }
    }

    /** Body length of a {@code PAGE_DATA} record of {@code count} normal pages. */
    static int pageDataLength(int count) {
        return StreamFormat.PAGE_DATA_HEADER_SIZE + count * Long.BYTES + count * StreamFormat.PAGE_SIZE;
    }

    /** An emulator record ({@code EMULATOR_XENSTORE_DATA}, {@code EMULATOR_CONTEXT}) of QEMU upstream, index 0. */
    static void emulatorRecord(ByteBuffer dst, int type, byte[] data) {
        int length = EMULATOR_HEADER_SIZE + data.length;
        recordHeader(dst, type, length);
        dst.putInt(StreamFormat.EMULATOR_QEMU_UPSTREAM);
        dst.putInt(0);
        dst.put(data);
        padding(dst, length);
    }

    private static void zeros(ByteBuffer dst, int n) {
        for (int left = n; left > 0; left -= ZEROS.length) {
            dst.put(ZEROS, 0, Math.min(left, ZEROS.length));
        }
    }
}
