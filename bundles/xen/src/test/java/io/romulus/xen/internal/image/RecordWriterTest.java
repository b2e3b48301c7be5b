package io.romulus.xen.internal.image;

import static io.romulus.xen.internal.image.Hex.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.util.function.Consumer;

import io.romulus.xen.internal.xc.XenControl.TscInfo;

import org.junit.jupiter.api.Test;

/**
 * The headers and records of a Xen domain image against golden bytes written by hand from
 * docs/specs/libxc-migration-stream.pandoc, docs/specs/libxl-migration-stream.pandoc and libvirt's
 * {@code struct _libxlSavefileHeader}: records and the domain header little-endian, the image and libxl headers
 * big-endian.
 */
class RecordWriterTest {

    private static byte[] written(Consumer<ByteBuffer> writer) {
        ByteBuffer b = ByteBuffer.allocate(256);
        writer.accept(b);
        byte[] out = new byte[b.position()];
        b.get(0, out);
        return out;
    }

    @Test
    void libvirtHeaderIsMagicVersionTwoXmlLengthAndFortyZeros() {
        assertArrayEquals(hex("6c 69 62 76 69 72 74 2d 78 6d 6c 0a 20 00 20 0d" // "libvirt-xml\n \0 \r"
                        + "02000000" // version 2 (libxl migration stream v2)
                        + "00000400" // xmlLen 0x40000
                        + "00000000 00000000 00000000 00000000 00000000" // unused[10]
                        + "00000000 00000000 00000000 00000000 00000000"),
                written(b -> RecordWriter.libvirtHeader(b, 0x40000)));
    }

    @Test
    void libxlHeaderIsBigEndianLibxlFmtVersionTwo() {
        assertArrayEquals(hex("4c6962786c466d74 00000002 00000000"), written(RecordWriter::libxlHeader));
    }

    @Test
    void imageHeaderIsBigEndianMarkerXenfVersionThree() {
        assertArrayEquals(hex("ffffffffffffffff 58454e46 00000003 0000 0000 00000000"),
                written(RecordWriter::imageHeader));
    }

    @Test
    void domainHeaderIsTypePageShiftAndXenVersion() {
        assertArrayEquals(hex("02000000 0c00 0000 04000000 13000000"), // HVM, page_shift 12, Xen 4.19
                written(b -> RecordWriter.domainHeader(b, StreamFormat.DOMAIN_X86_HVM, 4, 19)));
    }

    @Test
    void endRecordIsEightZeros() {
        assertArrayEquals(hex("00000000 00000000"), written(b -> RecordWriter.emptyRecord(b, StreamFormat.REC_END)));
    }

    @Test
    void bodyIsPaddedWithZerosToEightBytes() {
        byte[] body = hex("0102030405060708 090a0b");
        assertArrayEquals(hex("12000000 0b000000 0102030405060708 090a0b 0000000000"),
                written(b -> RecordWriter.record(b, StreamFormat.REC_X86_MSR_POLICY, body)));
    }

    @Test
    void tscInfoIsModeKhzNsecIncarnationReserved() {
        TscInfo tsc = new TscInfo(1, 2_400_000, 0x0011223344556677L, 5);
        assertArrayEquals(hex("08000000 18000000" // X86_TSC_INFO, 24 bytes
                        + "01000000 009f2400" // mode 1, khz 2400000 = 0x249f00
                        + "7766554433221100" // nsec
                        + "05000000 00000000"), // incarnation 5, reserved
                written(b -> RecordWriter.tscInfo(b, tsc)));
    }

    @Test
    void hvmParamsAreCountThenIndexValuePairs() {
        long[] params = {1, 0xfeffcL, 0x21, 0x1234};
        assertArrayEquals(hex("0a000000 28000000" // HVM_PARAMS, 8 + 2 * 16 bytes
                        + "02000000 00000000" // count 2, reserved
                        + "0100000000000000 fcef0f0000000000" // index 1, value 0xfeffc
                        + "2100000000000000 3412000000000000"), // index 0x21, value 0x1234
                written(b -> RecordWriter.hvmParams(b, params)));
    }

    @Test
    void pageDataHeaderCountsPfnsAndPages() {
        long[] pfns = {0x100, 0xfeedfL};
        assertArrayEquals(hex("01000000 18200000" // PAGE_DATA, 8 + 2 * 8 + 2 * 4096 = 0x2018 bytes
                        + "02000000 00000000" // count 2, reserved
                        + "0001000000000000 dfee0f0000000000"), // NOTAB pfn 0x100, NOTAB pfn 0xfeedf
                written(b -> RecordWriter.pageDataHeader(b, pfns, 0, 2)));
    }

    @Test
    void emulatorRecordNamesQemuUpstreamIndexZero() {
        byte[] data = hex("abcdef");
        assertArrayEquals(hex("03000000 0b000000 02000000 00000000 abcdef 0000000000"),
                written(b -> RecordWriter.emulatorRecord(b, StreamFormat.LIBXL_REC_EMULATOR_CONTEXT, data)));
    }

    @Test
    void paddingRecordIsOptionalRomulusTypeOfZeros() {
        assertArrayEquals(hex("4d4f5280 08000000 0000000000000000"), written(b -> RecordWriter.paddingRecord(b, 16)));
        assertArrayEquals(hex("4d4f5280 00000000"), written(b -> RecordWriter.paddingRecord(b, 8)));
        assertThrows(IllegalArgumentException.class, () -> RecordWriter.paddingRecord(ByteBuffer.allocate(64), 12));
    }

    @Test
    void recordSizeCountsHeaderAndPadding() {
        assertEquals(8, RecordWriter.recordSize(0));
        assertEquals(16, RecordWriter.recordSize(1));
        assertEquals(16, RecordWriter.recordSize(8));
        assertEquals(24, RecordWriter.recordSize(9));
    }

    @Test
    void pfnBeyondFiftyTwoBitsIsRefused() {
        long[] pfns = {1L << 52};
        assertThrows(IllegalArgumentException.class, () -> written(b -> RecordWriter.pfnArray(b, pfns, 0, 1)));
    }
}
