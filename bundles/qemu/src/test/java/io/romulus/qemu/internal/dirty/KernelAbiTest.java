package io.romulus.qemu.internal.dirty;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/**
 * The struct layouts and ioctl numbers against values taken by hand from the Linux 6.7+ uapi headers
 * (include/uapi/linux/userfaultfd.h, include/uapi/linux/fs.h, include/uapi/asm-generic/ioctl.h).
 */
class KernelAbiTest {

    private static byte[] encode(int size, java.util.function.Consumer<ByteBuffer> encoder) {
        ByteBuffer b = ByteBuffer.allocate(size);
        encoder.accept(b);
        return b.array();
    }

    /** Little-endian bytes of one __u64, written out in a row. */
    private static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    @Test
    void ioctlNumbersAreTheHeaderValues() {
        // _IOWR(0xAA, 0x3F, struct uffdio_api): dir 3 << 30 | size 24 << 16 | type 0xAA << 8 | nr 0x3F
        assertEquals(0xc018aa3fL, KernelAbi.UFFDIO_API);
        // _IOWR(0xAA, 0x00, struct uffdio_register): size 32
        assertEquals(0xc020aa00L, KernelAbi.UFFDIO_REGISTER);
        // _IOR(0xAA, 0x01, struct uffdio_range): size 16
        assertEquals(0x8010aa01L, KernelAbi.UFFDIO_UNREGISTER);
        // _IOWR(0xAA, 0x06, struct uffdio_writeprotect): size 24
        assertEquals(0xc018aa06L, KernelAbi.UFFDIO_WRITEPROTECT);
        // _IOWR('f', 16, struct pm_scan_arg): size 96
        assertEquals(0xc0606610L, KernelAbi.PAGEMAP_SCAN);
    }

    @Test
    void flagsAreTheHeaderValues() {
        assertEquals(0xAAL, KernelAbi.UFFD_API);
        assertEquals(0x1000L, KernelAbi.UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
        assertEquals(0x2000L, KernelAbi.UFFD_FEATURE_WP_UNPOPULATED);
        assertEquals(0x8000L, KernelAbi.UFFD_FEATURE_WP_ASYNC);
        assertEquals(2L, KernelAbi.UFFDIO_REGISTER_MODE_WP);
        assertEquals(1L, KernelAbi.UFFDIO_WRITEPROTECT_MODE_WP);
        assertEquals(1L, KernelAbi.PAGE_IS_WPALLOWED);
        assertEquals(2L, KernelAbi.PAGE_IS_WRITTEN);
        assertEquals(1L, KernelAbi.PM_SCAN_WP_MATCHING);
        assertEquals(2L, KernelAbi.PM_SCAN_CHECK_WPASYNC);
    }

    @Test
    void uffdioApi() {
        byte[] golden = bytes(
                0xaa, 0, 0, 0, 0, 0, 0, 0,                 // api = UFFD_API
                0x00, 0xb0, 0, 0, 0, 0, 0, 0,              // features = WP_ASYNC | WP_UNPOPULATED | WP_HUGETLBFS_SHMEM
                0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01); // ioctls
        KernelAbi.UffdioApi api = new KernelAbi.UffdioApi(0xAA, 0xB000, 0x0102030405060708L);
        assertArrayEquals(golden, encode(KernelAbi.UFFDIO_API_SIZE, api::encode));
        assertEquals(api, KernelAbi.UffdioApi.decode(ByteBuffer.wrap(golden)));
    }

    @Test
    void uffdioRange() {
        byte[] golden = bytes(
                0x00, 0x10, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // start = 0x7f0000001000
                0x00, 0x00, 0x20, 0x00, 0, 0, 0, 0);       // len = 0x200000
        assertArrayEquals(golden,
                encode(KernelAbi.UFFDIO_RANGE_SIZE, new KernelAbi.UffdioRange(0x7f0000001000L, 0x200000)::encode));
    }

    @Test
    void uffdioRegister() {
        byte[] golden = bytes(
                0x00, 0x10, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // range.start = 0x7f0000001000
                0x00, 0x00, 0x20, 0x00, 0, 0, 0, 0,        // range.len = 0x200000
                0x02, 0, 0, 0, 0, 0, 0, 0,                 // mode = UFFDIO_REGISTER_MODE_WP
                0x5c, 0x01, 0, 0, 0, 0, 0, 0);             // ioctls (answer) = 0x15c
        KernelAbi.UffdioRegister reg = new KernelAbi.UffdioRegister(0x7f0000001000L, 0x200000,
                KernelAbi.UFFDIO_REGISTER_MODE_WP, 0x15c);
        assertArrayEquals(golden, encode(KernelAbi.UFFDIO_REGISTER_SIZE, reg::encode));
        assertEquals(reg, KernelAbi.UffdioRegister.decode(ByteBuffer.wrap(golden)));
    }

    @Test
    void uffdioWriteprotect() {
        byte[] golden = bytes(
                0x00, 0x10, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // range.start = 0x7f0000001000
                0x00, 0x30, 0, 0, 0, 0, 0, 0,              // range.len = 0x3000
                0x01, 0, 0, 0, 0, 0, 0, 0);                // mode = UFFDIO_WRITEPROTECT_MODE_WP
        assertArrayEquals(golden, encode(KernelAbi.UFFDIO_WRITEPROTECT_SIZE,
                new KernelAbi.UffdioWriteprotect(0x7f0000001000L, 0x3000, KernelAbi.UFFDIO_WRITEPROTECT_MODE_WP)::encode));
    }

    @Test
    void pmScanArg() {
        byte[] golden = bytes(
                0x60, 0, 0, 0, 0, 0, 0, 0,                 // size = 96
                0x03, 0, 0, 0, 0, 0, 0, 0,                 // flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC
                0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // start = 0x7f0000000000
                0x00, 0x00, 0x00, 0x10, 0x00, 0x7f, 0, 0,  // end = 0x7f0010000000
                0x00, 0x80, 0x00, 0x10, 0x00, 0x7f, 0, 0,  // walk_end = 0x7f0010008000
                0x00, 0x10, 0x00, 0x00, 0x55, 0x55, 0, 0,  // vec = 0x555500001000
                0x00, 0x02, 0, 0, 0, 0, 0, 0,              // vec_len = 512
                0x07, 0, 0, 0, 0, 0, 0, 0,                 // max_pages = 7
                0x08, 0, 0, 0, 0, 0, 0, 0,                 // category_inverted = PAGE_IS_PRESENT
                0x02, 0, 0, 0, 0, 0, 0, 0,                 // category_mask = PAGE_IS_WRITTEN
                0x04, 0, 0, 0, 0, 0, 0, 0,                 // category_anyof_mask = PAGE_IS_FILE
                0x02, 0, 0, 0, 0, 0, 0, 0);                // return_mask = PAGE_IS_WRITTEN
        KernelAbi.PmScanArg arg = new KernelAbi.PmScanArg(
                KernelAbi.PM_SCAN_WP_MATCHING | KernelAbi.PM_SCAN_CHECK_WPASYNC,
                0x7f0000000000L, 0x7f0010000000L, 0x7f0010008000L, 0x555500001000L, 512, 7,
                KernelAbi.PAGE_IS_PRESENT, KernelAbi.PAGE_IS_WRITTEN, KernelAbi.PAGE_IS_FILE, KernelAbi.PAGE_IS_WRITTEN);
        assertArrayEquals(golden, encode(KernelAbi.PM_SCAN_ARG_SIZE, arg::encode));
        assertEquals(32, KernelAbi.PmScanArg.OFFSET_WALK_END);
    }

    @Test
    void pageRegionArray() {
        byte[] golden = bytes(
                0x00, 0x30, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // [0].start = 0x7f0000003000
                0x00, 0x40, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // [0].end = 0x7f0000004000
                0x02, 0, 0, 0, 0, 0, 0, 0,                 // [0].categories = PAGE_IS_WRITTEN
                0x00, 0x70, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // [1].start = 0x7f0000007000
                0x00, 0x90, 0x00, 0x00, 0x00, 0x7f, 0, 0,  // [1].end = 0x7f0000009000
                0x0a, 0, 0, 0, 0, 0, 0, 0);                // [1].categories = PAGE_IS_WRITTEN | PAGE_IS_PRESENT
        assertEquals(new KernelAbi.PageRegion(0x7f0000003000L, 0x7f0000004000L, KernelAbi.PAGE_IS_WRITTEN),
                KernelAbi.PageRegion.decode(ByteBuffer.wrap(golden), 0));
        assertEquals(new KernelAbi.PageRegion(0x7f0000007000L, 0x7f0000009000L, 0x0a),
                KernelAbi.PageRegion.decode(ByteBuffer.wrap(golden), 1));
        assertEquals(golden.length, 2 * KernelAbi.PAGE_REGION_SIZE);
    }
}
