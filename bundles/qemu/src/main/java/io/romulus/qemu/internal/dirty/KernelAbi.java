package io.romulus.qemu.internal.dirty;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The kernel ABI the userfaultfd tracker speaks: ioctl numbers, flags and the byte layouts of the structs,
 * from the Linux 6.7+ uapi headers {@code include/uapi/linux/userfaultfd.h},
 * {@code include/uapi/linux/fs.h} and {@code include/uapi/asm-generic/ioctl.h}. Debian 12's headers (6.1)
 * lack the WP_ASYNC and PAGEMAP_SCAN parts, so everything is spelled out here.
 *
 * <p>All structs are arrays of {@code __u64} fields with no padding; they are encoded little-endian
 * (x86-64 and arm64, the architectures Romulus runs on) with explicit offsets so that tests can compare
 * them with golden bytes.
 */
final class KernelAbi {

    private KernelAbi() {
    }

    static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    // ---- asm-generic/ioctl.h: _IOC(dir, type, nr, size) ----
    static final int IOC_NRSHIFT = 0;
    static final int IOC_TYPESHIFT = 8;
    static final int IOC_SIZESHIFT = 16;
    static final int IOC_DIRSHIFT = 30;
    static final int IOC_SIZEBITS = 14;
    static final int IOC_WRITE = 1;
    static final int IOC_READ = 2;

    static long ioc(int dir, int type, int nr, int size) {
        if ((type & ~0xff) != 0 || (nr & ~0xff) != 0 || size < 0 || size >= (1 << IOC_SIZEBITS)) {
            throw new IllegalArgumentException("ioctl field out of range: type=" + type + " nr=" + nr + " size=" + size);
        }
        long value = ((long) dir << IOC_DIRSHIFT) | ((long) size << IOC_SIZESHIFT)
                | ((long) type << IOC_TYPESHIFT) | ((long) nr << IOC_NRSHIFT);
        return value & 0xffff_ffffL;
    }

    /** {@code _IOWR(type, nr, size)}. */
    static long iowr(int type, int nr, int size) {
        return ioc(IOC_READ | IOC_WRITE, type, nr, size);
    }

    /** {@code _IOR(type, nr, size)}. */
    static long ior(int type, int nr, int size) {
        return ioc(IOC_READ, type, nr, size);
    }

    // ---- linux/userfaultfd.h ----
    static final long UFFD_API = 0xAA;
    static final int UFFDIO = 0xAA;
    static final int NR_UFFDIO_REGISTER = 0x00;
    static final int NR_UFFDIO_UNREGISTER = 0x01;
    static final int NR_UFFDIO_WRITEPROTECT = 0x06;
    static final int NR_UFFDIO_API = 0x3F;

    static final long UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1L << 12;
    static final long UFFD_FEATURE_WP_UNPOPULATED = 1L << 13;
    static final long UFFD_FEATURE_WP_ASYNC = 1L << 15;

    static final long UFFDIO_REGISTER_MODE_WP = 1L << 1;
    static final long UFFDIO_WRITEPROTECT_MODE_WP = 1L << 0;

    /** Flags of the userfaultfd(2) system call: fcntl.h O_CLOEXEC and O_NONBLOCK (x86-64, arm64). */
    static final int O_NONBLOCK = 0x800;
    static final int O_CLOEXEC = 0x80000;
    static final int UFFD_USER_MODE_ONLY = 1;

    static final int UFFDIO_API_SIZE = 24;
    static final int UFFDIO_RANGE_SIZE = 16;
    static final int UFFDIO_REGISTER_SIZE = 32;
    static final int UFFDIO_WRITEPROTECT_SIZE = 24;

    static final long UFFDIO_API = iowr(UFFDIO, NR_UFFDIO_API, UFFDIO_API_SIZE);
    static final long UFFDIO_REGISTER = iowr(UFFDIO, NR_UFFDIO_REGISTER, UFFDIO_REGISTER_SIZE);
    static final long UFFDIO_UNREGISTER = ior(UFFDIO, NR_UFFDIO_UNREGISTER, UFFDIO_RANGE_SIZE);
    static final long UFFDIO_WRITEPROTECT = iowr(UFFDIO, NR_UFFDIO_WRITEPROTECT, UFFDIO_WRITEPROTECT_SIZE);

    // ---- linux/fs.h: the pagemap ioctl ----
    static final int PROCFS_IOCTL_MAGIC = 'f';
    static final int NR_PAGEMAP_SCAN = 16;
    static final int PM_SCAN_ARG_SIZE = 96;
    static final int PAGE_REGION_SIZE = 24;
    static final long PAGEMAP_SCAN = iowr(PROCFS_IOCTL_MAGIC, NR_PAGEMAP_SCAN, PM_SCAN_ARG_SIZE);

    static final long PAGE_IS_WPALLOWED = 1L << 0;
    static final long PAGE_IS_WRITTEN = 1L << 1;
    static final long PAGE_IS_FILE = 1L << 2;
    static final long PAGE_IS_PRESENT = 1L << 3;

    static final long PM_SCAN_WP_MATCHING = 1L << 0;
    static final long PM_SCAN_CHECK_WPASYNC = 1L << 1;

    // ---- the structs ----

    /** {@code struct uffdio_api { __u64 api; __u64 features; __u64 ioctls; }}. */
    record UffdioApi(long api, long features, long ioctls) {
        void encode(ByteBuffer b) {
            b.order(ORDER).putLong(0, api).putLong(8, features).putLong(16, ioctls);
        }

        static UffdioApi decode(ByteBuffer b) {
            b.order(ORDER);
            return new UffdioApi(b.getLong(0), b.getLong(8), b.getLong(16));
        }
    }

    /** {@code struct uffdio_range { __u64 start; __u64 len; }}. */
    record UffdioRange(long start, long len) {
        void encode(ByteBuffer b) {
            b.order(ORDER).putLong(0, start).putLong(8, len);
        }
    }

    /** {@code struct uffdio_register { struct uffdio_range range; __u64 mode; __u64 ioctls; }}. */
    record UffdioRegister(long start, long len, long mode, long ioctls) {
        void encode(ByteBuffer b) {
            b.order(ORDER).putLong(0, start).putLong(8, len).putLong(16, mode).putLong(24, ioctls);
        }

        static UffdioRegister decode(ByteBuffer b) {
            b.order(ORDER);
            return new UffdioRegister(b.getLong(0), b.getLong(8), b.getLong(16), b.getLong(24));
        }
    }

    /** {@code struct uffdio_writeprotect { struct uffdio_range range; __u64 mode; }}. */
    record UffdioWriteprotect(long start, long len, long mode) {
        void encode(ByteBuffer b) {
            b.order(ORDER).putLong(0, start).putLong(8, len).putLong(16, mode);
        }
    }

    /**
     * {@code struct pm_scan_arg}: twelve {@code __u64}: size, flags, start, end, walk_end, vec, vec_len,
     * max_pages, category_inverted, category_mask, category_anyof_mask, return_mask. {@code size} is
     * always {@link #PM_SCAN_ARG_SIZE}.
     */
    record PmScanArg(long flags, long start, long end, long walkEnd, long vec, long vecLen, long maxPages,
                     long categoryInverted, long categoryMask, long categoryAnyofMask, long returnMask) {

        static final int OFFSET_WALK_END = 32;

        void encode(ByteBuffer b) {
            b.order(ORDER)
                    .putLong(0, PM_SCAN_ARG_SIZE)
                    .putLong(8, flags)
                    .putLong(16, start)
                    .putLong(24, end)
                    .putLong(OFFSET_WALK_END, walkEnd)
                    .putLong(40, vec)
                    .putLong(48, vecLen)
                    .putLong(56, maxPages)
                    .putLong(64, categoryInverted)
                    .putLong(72, categoryMask)
                    .putLong(80, categoryAnyofMask)
                    .putLong(88, returnMask);
        }
    }

    /** {@code struct page_region { __u64 start; __u64 end; __u64 categories; }}, end exclusive. */
    record PageRegion(long start, long end, long categories) {
        static final int OFFSET_START = 0;
        static final int OFFSET_END = 8;
        static final int OFFSET_CATEGORIES = 16;

        /** Decodes element {@code index} of a {@code page_region} array. */
        static PageRegion decode(ByteBuffer b, int index) {
            b.order(ORDER);
            int base = index * PAGE_REGION_SIZE;
            return new PageRegion(b.getLong(base + OFFSET_START), b.getLong(base + OFFSET_END),
                    b.getLong(base + OFFSET_CATEGORIES));
        }
    }
}
