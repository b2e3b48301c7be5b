package io.romulus.qemu.internal.dirty;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The struct layouts, ioctl numbers and flags of KernelAbi against what {@code src/test/c/uffd_golden.c} prints,
 * compiled at test time against the installed {@code <linux/userfaultfd.h>} and {@code <linux/fs.h>}
 * ({@link UffdGolden}). Debian 12's headers (Linux 6.1) lack PAGEMAP_SCAN and UFFD_FEATURE_WP_ASYNC: for those the
 * program falls back on a verbatim copy of the Linux 6.7 uapi (its "source" lines say which), still laid out and
 * numbered by the compiler and the system's _IOWR.
 */
class KernelAbiTest {

    private static final Logger LOG = LoggerFactory.getLogger(KernelAbiTest.class);

    private static byte[] encode(int size, java.util.function.Consumer<ByteBuffer> encoder) {
        ByteBuffer b = ByteBuffer.allocate(size);
        encoder.accept(b);
        return b.array();
    }

    /** Every ioctl number, flag, size and offset KernelAbi relies on, by the name the C program prints it under. */
    private static Map<String, Long> javaFacts() {
        Map<String, Long> f = new LinkedHashMap<>();
        f.put("const UFFDIO_API", KernelAbi.UFFDIO_API);
        f.put("const UFFDIO_REGISTER", KernelAbi.UFFDIO_REGISTER);
        f.put("const UFFDIO_UNREGISTER", KernelAbi.UFFDIO_UNREGISTER);
        f.put("const UFFDIO_WRITEPROTECT", KernelAbi.UFFDIO_WRITEPROTECT);
        f.put("const PAGEMAP_SCAN", KernelAbi.PAGEMAP_SCAN);
        f.put("const UFFD_API", KernelAbi.UFFD_API);
        f.put("const UFFD_FEATURE_WP_HUGETLBFS_SHMEM", KernelAbi.UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
        f.put("const UFFD_FEATURE_WP_UNPOPULATED", KernelAbi.UFFD_FEATURE_WP_UNPOPULATED);
        f.put("const UFFD_FEATURE_WP_ASYNC", KernelAbi.UFFD_FEATURE_WP_ASYNC);
        f.put("const UFFDIO_REGISTER_MODE_WP", KernelAbi.UFFDIO_REGISTER_MODE_WP);
        f.put("const UFFDIO_WRITEPROTECT_MODE_WP", KernelAbi.UFFDIO_WRITEPROTECT_MODE_WP);
        f.put("const PAGE_IS_WPALLOWED", KernelAbi.PAGE_IS_WPALLOWED);
        f.put("const PAGE_IS_WRITTEN", KernelAbi.PAGE_IS_WRITTEN);
        f.put("const PAGE_IS_FILE", KernelAbi.PAGE_IS_FILE);
        f.put("const PAGE_IS_PRESENT", KernelAbi.PAGE_IS_PRESENT);
        f.put("const PM_SCAN_WP_MATCHING", KernelAbi.PM_SCAN_WP_MATCHING);
        f.put("const PM_SCAN_CHECK_WPASYNC", KernelAbi.PM_SCAN_CHECK_WPASYNC);
        f.put("size uffdio_api", (long) KernelAbi.UFFDIO_API_SIZE);
        f.put("size uffdio_range", (long) KernelAbi.UFFDIO_RANGE_SIZE);
        f.put("size uffdio_register", (long) KernelAbi.UFFDIO_REGISTER_SIZE);
        f.put("size uffdio_writeprotect", (long) KernelAbi.UFFDIO_WRITEPROTECT_SIZE);
        f.put("size pm_scan_arg", (long) KernelAbi.PM_SCAN_ARG_SIZE);
        f.put("size page_region", (long) KernelAbi.PAGE_REGION_SIZE);
        f.put("offset pm_scan_arg.walk_end", (long) KernelAbi.PmScanArg.OFFSET_WALK_END);
        return f;
    }

    @Test
    void ioctlNumbersFlagsSizesAndOffsetsAreTheHeaders() {
        LOG.info("PAGEMAP_SCAN from: {}; UFFD_FEATURE_WP_ASYNC from: {}", UffdGolden.source("PAGEMAP_SCAN"),
                UffdGolden.source("UFFD_FEATURE_WP_ASYNC"));
        assertAll(javaFacts().entrySet().stream().map(e -> () ->
                assertEquals(UffdGolden.number(e.getKey()), e.getValue(), e.getKey())));
    }

    @Test
    void uffdioApi() {
        // api = UFFD_API; features = WP_ASYNC | WP_UNPOPULATED | WP_HUGETLBFS_SHMEM; ioctls = 0x0102030405060708
        byte[] golden = UffdGolden.bytes("uffdio_api");
        KernelAbi.UffdioApi api = new KernelAbi.UffdioApi(0xAA, 0xB000, 0x0102030405060708L);
        assertArrayEquals(golden, encode(KernelAbi.UFFDIO_API_SIZE, api::encode));
        assertEquals(api, KernelAbi.UffdioApi.decode(ByteBuffer.wrap(golden)));
    }

    @Test
    void uffdioRange() {
        // start = 0x7f0000001000, len = 0x200000
        assertArrayEquals(UffdGolden.bytes("uffdio_range"),
                encode(KernelAbi.UFFDIO_RANGE_SIZE, new KernelAbi.UffdioRange(0x7f0000001000L, 0x200000)::encode));
    }

    @Test
    void uffdioRegister() {
        // range = {0x7f0000001000, 0x200000}, mode = UFFDIO_REGISTER_MODE_WP, ioctls (the kernel's answer) = 0x15c
        byte[] golden = UffdGolden.bytes("uffdio_register");
        KernelAbi.UffdioRegister reg = new KernelAbi.UffdioRegister(0x7f0000001000L, 0x200000,
                KernelAbi.UFFDIO_REGISTER_MODE_WP, 0x15c);
        assertArrayEquals(golden, encode(KernelAbi.UFFDIO_REGISTER_SIZE, reg::encode));
        assertEquals(reg, KernelAbi.UffdioRegister.decode(ByteBuffer.wrap(golden)));
    }

    @Test
    void uffdioWriteprotect() {
        // range = {0x7f0000001000, 0x3000}, mode = UFFDIO_WRITEPROTECT_MODE_WP
        KernelAbi.UffdioWriteprotect wp = new KernelAbi.UffdioWriteprotect(0x7f0000001000L, 0x3000,
                KernelAbi.UFFDIO_WRITEPROTECT_MODE_WP);
        assertArrayEquals(UffdGolden.bytes("uffdio_writeprotect"),
                encode(KernelAbi.UFFDIO_WRITEPROTECT_SIZE, wp::encode));
    }

    @Test
    void pmScanArg() {
        // size = sizeof; flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC; start, end, walk_end, vec, vec_len 512,
        // max_pages 7; category_inverted PAGE_IS_PRESENT, category_mask and return_mask PAGE_IS_WRITTEN,
        // category_anyof_mask PAGE_IS_FILE
        KernelAbi.PmScanArg arg = new KernelAbi.PmScanArg(
                KernelAbi.PM_SCAN_WP_MATCHING | KernelAbi.PM_SCAN_CHECK_WPASYNC,
                0x7f0000000000L, 0x7f0010000000L, 0x7f0010008000L, 0x555500001000L, 512, 7,
                KernelAbi.PAGE_IS_PRESENT, KernelAbi.PAGE_IS_WRITTEN, KernelAbi.PAGE_IS_FILE,
                KernelAbi.PAGE_IS_WRITTEN);
        assertArrayEquals(UffdGolden.bytes("pm_scan_arg"), encode(KernelAbi.PM_SCAN_ARG_SIZE, arg::encode));
        assertEquals(32, KernelAbi.PmScanArg.OFFSET_WALK_END);
    }

    @Test
    void pageRegionArray() {
        // [0] = {0x7f0000003000, 0x7f0000004000, PAGE_IS_WRITTEN},
        // [1] = {0x7f0000007000, 0x7f0000009000, PAGE_IS_WRITTEN | PAGE_IS_PRESENT}
        byte[] golden = UffdGolden.bytes("page_region_array");
        assertEquals(new KernelAbi.PageRegion(0x7f0000003000L, 0x7f0000004000L, KernelAbi.PAGE_IS_WRITTEN),
                KernelAbi.PageRegion.decode(ByteBuffer.wrap(golden), 0));
        assertEquals(new KernelAbi.PageRegion(0x7f0000007000L, 0x7f0000009000L, 0x0a),
                KernelAbi.PageRegion.decode(ByteBuffer.wrap(golden), 1));
        assertEquals(golden.length, 2 * KernelAbi.PAGE_REGION_SIZE);
    }
}
