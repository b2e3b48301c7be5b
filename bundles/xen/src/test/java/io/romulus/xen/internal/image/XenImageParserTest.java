package io.romulus.xen.internal.image;

import static io.romulus.xen.internal.image.XenImageParser.EMULATOR_CONTEXT;
import static io.romulus.xen.internal.image.XenImageParser.EMULATOR_XENSTORE_DATA;
import static io.romulus.xen.internal.image.XenImageParser.END;
import static io.romulus.xen.internal.image.XenImageParser.HVM_CONTEXT;
import static io.romulus.xen.internal.image.XenImageParser.HVM_PARAMS;
import static io.romulus.xen.internal.image.XenImageParser.LIBVIRT_MAGIC;
import static io.romulus.xen.internal.image.XenImageParser.LIBXC_CONTEXT;
import static io.romulus.xen.internal.image.XenImageParser.LIBXC_ID;
import static io.romulus.xen.internal.image.XenImageParser.LIBXL_END;
import static io.romulus.xen.internal.image.XenImageParser.LIBXL_IDENT;
import static io.romulus.xen.internal.image.XenImageParser.PAGE_DATA;
import static io.romulus.xen.internal.image.XenImageParser.STATIC_DATA_END;
import static io.romulus.xen.internal.image.XenImageParser.X86_CPUID_POLICY;
import static io.romulus.xen.internal.image.XenImageParser.X86_MSR_POLICY;
import static io.romulus.xen.internal.image.XenImageParser.X86_TSC_INFO;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.xen.internal.image.ParsedImage.Layer;
import io.romulus.xen.internal.image.ParsedImage.SeenRecord;
import io.romulus.xen.internal.image.ParsedImage.Tsc;
import io.romulus.xen.internal.image.ParsedImage.XenstoreEntry;

/** Images written byte by byte from the two specifications, valid and broken in one place each. */
class XenImageParserTest {

    private static final String XML = "<domain type='xen'><name>vm1</name></domain>";
    private static final long XTAB = 0xfL << 60;
    private static final int OPTIONAL_TYPE = 0x8000_0042;
    private static final byte[] EMULATOR_BLOB = "QEVM blob 123".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path dir;

    private int libxcVersion = 3;
    private byte[] xenstorePairs = "physmap/1/start_addr\0f0000000\0physmap/1/name\0vga.vram\0"
            .getBytes(StandardCharsets.US_ASCII);
    private int optionalAt;
    private int pageDataAt;
    private int hvmContextAt;
    private int xenstoreAt;

    /** Little-endian unless a method says otherwise, as on x86. */
    private static final class Bytes {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Bytes le32(long v) {
            for (int i = 0; i < 4; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Bytes le64(long v) {
            return le32(v).le32(v >>> 32);
        }

        Bytes be32(long v) {
            for (int i = 3; i >= 0; i--) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Bytes be64(long v) {
            return be32(v >>> 32).be32(v);
        }

        Bytes raw(byte... b) {
            out.writeBytes(b);
            return this;
        }

        Bytes zeros(int n) {
            return raw(new byte[n]);
        }

        /** A record of either layer: type, body_length, body, zero padding to 8 bytes. */
        Bytes record(int type, byte[] body) {
            return le32(type).le32(body.length).raw(body).zeros(-body.length & 7);
        }

        int offset() {
            return out.size();
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    private byte[] image(Consumer<Bytes> libxcRecords) {
        return image((XML + "\0\0\0\0").getBytes(StandardCharsets.UTF_8), libxcRecords);
    }

    private byte[] image(byte[] xmlArea, Consumer<Bytes> libxcRecords) {
        Bytes b = new Bytes();
        b.raw(LIBVIRT_MAGIC).le32(2).le32(xmlArea.length).zeros(40).raw(xmlArea);
        b.be64(LIBXL_IDENT).be32(2).be32(0);
        b.record(LIBXC_CONTEXT, new byte[0]);
        b.be64(-1L).be32(LIBXC_ID).be32(libxcVersion).raw((byte) 0, (byte) 0).zeros(6); // image header, big-endian
        b.le32(2).raw((byte) 12).zeros(3).le32(4).le32(17); // domain header: x86 HVM from Xen 4.17
        libxcRecords.accept(b);
        b.record(END, new byte[0]);
        xenstoreAt = b.offset();
        b.record(EMULATOR_XENSTORE_DATA, new Bytes().le32(2).le32(0).raw(xenstorePairs).bytes());
        b.record(EMULATOR_CONTEXT, new Bytes().le32(2).le32(0).raw(EMULATOR_BLOB).bytes());
        b.record(LIBXL_END, new byte[0]);
        return b.bytes();
    }

    private void valid(Bytes b) {
        policies(b);
        optionalAt = b.offset();
        b.record(OPTIONAL_TYPE, new byte[] {1, 2, 3, 4, 5});
        b.record(STATIC_DATA_END, new byte[0]);
        pages(b);
        tscAndParams(b);
        context(b);
    }

    private static void policies(Bytes b) {
        b.record(X86_CPUID_POLICY, filled(48, 0x11));
        b.record(X86_MSR_POLICY, filled(16, 0x22));
    }

    /** pfn 0 and 1 with data, 5 invalid (XTAB, no data); then pfn 1 again (the later copy wins) and pfn 7. */
    private void pages(Bytes b) {
        pageDataAt = b.offset();
        b.record(PAGE_DATA, pageData(new long[] {0, 1, XTAB | 5}, filled(4096, 0xa0), filled(4096, 0xa1)));
        b.record(PAGE_DATA, pageData(new long[] {1, 7}, filled(4096, 0xb1), filled(4096, 0xb7)));
    }

    private static void tscAndParams(Bytes b) {
        b.record(X86_TSC_INFO, new Bytes().le32(1).le32(2_000_000).le64(123_456_789L).le32(3).le32(0).bytes());
        b.record(HVM_PARAMS, new Bytes().le32(2).le32(0).le64(1).le64(0xfeffcL).le64(2).le64(0xfeffdL).bytes());
    }

    private void context(Bytes b) {
        hvmContextAt = b.offset();
        b.record(HVM_CONTEXT, filled(16, 0x33));
    }

    private static byte[] pageData(long[] pfns, byte[]... pages) {
        Bytes body = new Bytes().le32(pfns.length).le32(0);
        Arrays.stream(pfns).forEach(body::le64);
        Arrays.stream(pages).forEach(body::raw);
        return body.bytes();
    }

    private static byte[] filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private Path write(byte[] image) throws IOException {
        return Files.write(dir.resolve("vm1.save"), image);
    }

    private ImageFormatException rejected(byte[] image, long offset, String problem) throws IOException {
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> XenImageParser.parse(write(image)));
        assertTrue(e.getMessage().contains(problem), e.getMessage());
        assertEquals(offset, e.offset(), e.getMessage());
        return e;
    }

    @Test
    void validHvmImageIsReadCompletely() throws Exception {
        try (ParsedImage p = XenImageParser.parse(write(image(this::valid)))) {
            assertEquals(2, p.libvirtVersion());
            assertEquals(XML, p.xml());
            assertEquals(2, p.libxlVersion());
            assertEquals(3, p.libxcVersion());
            assertEquals(2, p.domainType());
            assertEquals(12, p.pageShift());
            assertEquals(4, p.xenMajor());
            assertEquals(17, p.xenMinor());
            assertArrayEquals(filled(48, 0x11), p.cpuidPolicy());
            assertArrayEquals(filled(16, 0x22), p.msrPolicy());
            assertTrue(p.staticDataEndSeen());
            assertArrayEquals(new long[] {0, 1, 5, 7}, p.pfns());
            assertArrayEquals(filled(4096, 0xa0), p.page(0));
            assertArrayEquals(filled(4096, 0xb1), p.page(1));
            assertArrayEquals(filled(4096, 0xb7), p.page(7));
            assertNull(p.page(5));
            assertEquals(0xf, p.pfnType(5));
            assertEquals(0, p.pfnType(7));
            assertEquals(-1, p.pfnType(2));
            assertEquals(new Tsc(1, 2_000_000, 123_456_789L, 3), p.tsc());
            assertEquals(Map.of(1L, 0xfeffcL, 2L, 0xfeffdL), p.hvmParams());
            assertArrayEquals(filled(16, 0x33), p.hvmContext());
            assertEquals(List.of(new XenstoreEntry("physmap/1/start_addr", "f0000000"),
                    new XenstoreEntry("physmap/1/name", "vga.vram")), p.emulatorXenstore());
            assertArrayEquals(EMULATOR_BLOB, p.emulatorContext());
            assertEquals(2, p.emulatorId());
            assertEquals(1, p.skippedOptional(Layer.LIBXC));
            assertEquals(0, p.skippedOptional(Layer.LIBXL));
            assertEquals("LIBXL:1 LIBXC:17 LIBXC:18 LIBXC:-2147483582 LIBXC:16 LIBXC:1 LIBXC:1 LIBXC:8 LIBXC:10 LIBXC:9"
                    + " LIBXC:0 LIBXL:2 LIBXL:3 LIBXL:0", summary(p.records()));
        }
    }

    @Test
    void v2StreamImpliesStaticDataEndAtFirstPageData() throws Exception {
        libxcVersion = 2;
        byte[] image = image(b -> {
            policies(b);
            pages(b);
            tscAndParams(b);
            context(b);
        });
        try (ParsedImage p = XenImageParser.parse(write(image))) {
            assertEquals(2, p.libxcVersion());
            assertFalse(p.staticDataEndSeen());
        }
    }

    @Test
    void badLibvirtMagic() throws Exception {
        byte[] image = image(this::valid);
        image[3] = 'X';
        rejected(image, 0, "bad libvirt magic");
    }

    @Test
    void xmlNotNulTerminated() throws Exception {
        rejected(image(XML.getBytes(StandardCharsets.UTF_8), this::valid), 64,
                "domain XML is not NUL-terminated within xmlLen " + XML.length());
    }

    @Test
    void v3PageDataBeforeStaticDataEnd() throws Exception {
        byte[] image = image(b -> {
            policies(b);
            pages(b);
            tscAndParams(b);
            context(b);
        });
        rejected(image, pageDataAt, "PAGE_DATA before STATIC_DATA_END in a v3 stream");
    }

    @Test
    void nonzeroPadding() throws Exception {
        byte[] image = image(this::valid);
        image[optionalAt + 8 + 5 + 1] = 1;
        rejected(image, optionalAt + 8 + 5 + 1, "padding of libxc optional record (type 0x80000042, length 5)"
                + " at offset " + optionalAt + ": byte 1 is 0x01, must be 0");
    }

    @Test
    void pageDataLengthMustMatchPagesWithData() throws Exception {
        byte[] image = image(b -> {
            b.record(STATIC_DATA_END, new byte[0]);
            pageDataAt = b.offset();
            b.record(PAGE_DATA, pageData(new long[] {0, 1}, filled(4096, 0))); // two NOTAB pfns, one page
        });
        rejected(image, pageDataAt + 4, "expected length 8216 = 8 + 8*2 pfns + 4096*2 pages of data");
    }

    @Test
    void pageDataCountAboveMaxBatchSize() throws Exception {
        long[] pfns = new long[1025];
        Arrays.setAll(pfns, i -> XTAB | i);
        byte[] image = image(b -> {
            b.record(STATIC_DATA_END, new byte[0]);
            pageDataAt = b.offset();
            b.record(PAGE_DATA, pageData(pfns));
        });
        rejected(image, pageDataAt + 8, "count 1025, expected 1..1024");
    }

    @Test
    void hvmContextBeforeHvmParams() throws Exception {
        byte[] image = image(b -> {
            b.record(STATIC_DATA_END, new byte[0]);
            context(b);
            tscAndParams(b);
        });
        rejected(image, hvmContextAt, "HVM_CONTEXT before any HVM_PARAMS");
    }

    @Test
    void unknownMandatoryLibxcRecord() throws Exception {
        byte[] image = image(b -> {
            valid(b);
            optionalAt = b.offset();
            b.record(0x13, new byte[8]);
        });
        rejected(image, optionalAt, "libxc unknown mandatory record (type 0x00000013, length 8)");
    }

    @Test
    void bytesAfterLibxlEnd() throws Exception {
        byte[] valid = image(this::valid);
        rejected(Arrays.copyOf(valid, valid.length + 8), valid.length, "8 bytes follow the libxl END record");
    }

    @Test
    void truncatedInsidePageData() throws Exception {
        byte[] valid = image(this::valid);
        rejected(Arrays.copyOf(valid, pageDataAt + 100), pageDataAt + 8,
                "truncated: libxc PAGE_DATA record (type 0x00000001, length 8224) at offset " + pageDataAt
                        + " needs 8224 bytes, the file has 92 left");
    }

    @Test
    void xenstoreDataWithAKeyButNoValue() throws Exception {
        xenstorePairs = "physmap/1/start_addr\0".getBytes(StandardCharsets.US_ASCII);
        rejected(image(this::valid), xenstoreAt + 8 + 8 + 21,
                "xenstore value of key 'physmap/1/start_addr' is not NUL-terminated (missing; odd number of strings)");
    }

    private static String summary(List<SeenRecord> records) {
        return records.stream().map(r -> r.layer() + ":" + r.type()).collect(Collectors.joining(" "));
    }
}
