package io.romulus.qemu.internal.dirty;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import io.romulus.support.linux.NativeCallException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Dirty-page tracking with userfaultfd asynchronous write-protect (Linux 6.7+).
 *
 * <p>The writer (QEMU) owns a userfaultfd created by the preload library {@code libromulus-uffd.so} with
 * {@code UFFD_FEATURE_WP_ASYNC}. This tracker takes a duplicate of it with {@code pidfd_getfd}, registers the
 * range for write-protect and write-protects it. From then on the kernel clears the write-protect bit of a
 * page on its first write, without stopping the writer. {@link #harvest()} runs the {@code PAGEMAP_SCAN}
 * ioctl on {@code /proc/PID/pagemap}, which returns the written ranges and write-protects them again in the
 * same page-table walk.
 *
 * <p>The range must be shmem/tmpfs or hugetlbfs memory (QEMU's {@code memory-backend-file} on /dev/shm with
 * {@code share=on}); regular files on disk file systems do not support userfaultfd write-protect.
 */
public final class UffdDirtyTracker implements DirtyTracker {

    private static final Logger LOG = LoggerFactory.getLogger(UffdDirtyTracker.class);

    /** The descriptor number the preload library parks its userfaultfd at unless ROMULUS_UFFD_FD says otherwise. */
    public static final int DEFAULT_UFFD_FD = 1000;

    static final int DEFAULT_VEC_CAPACITY = 512;
    private static final int MAX_VEC_CAPACITY = 1 << 16;

    private final LinuxNative linux;
    private final long pid;
    private final long rangeStart;
    private final long rangeLength;
    private final int pageSize;
    private final int pageShift;
    private final int uffd;
    private final int pagemapFd;
    private final Memory arg;
    private final ByteBuffer argView;
    private Memory vec;
    private ByteBuffer vecView;
    private int vecCapacity;
    private long[] pages = new long[64];
    private boolean closed;

    /**
     * Starts tracking {@code [rangeStart, rangeStart+rangeLength)} of process {@code pid}, whose userfaultfd
     * (asynchronous write-protect enabled) is its descriptor {@code targetFd}.
     */
    public static UffdDirtyTracker attach(long pid, int targetFd, long rangeStart, long rangeLength, int pageSize)
            throws IOException {
        LinuxNative linux = LinuxNative.load();
        return new UffdDirtyTracker(linux, pid, take(linux, pid, targetFd), rangeStart, rangeLength, pageSize,
                DEFAULT_VEC_CAPACITY, true);
    }

    /**
     * Takes over tracking of a range that an earlier tracker {@linkplain #release() released}: takes the
     * userfaultfd of process {@code pid} again (its descriptor {@code targetFd}) but neither registers nor
     * write-protects the range, so the pages written since the earlier tracker's last harvest are still written
     * in the page tables, and the first {@link #harvest()} reports them. The writer's own descriptor kept the
     * registration and the write-protect bits alive meanwhile. If the range is not registered (any more), the
     * first harvest fails ({@code PAGEMAP_SCAN} refuses a range without asynchronous write-protect).
     */
    public static UffdDirtyTracker adopt(long pid, int targetFd, long rangeStart, long rangeLength, int pageSize)
            throws IOException {
        LinuxNative linux = LinuxNative.load();
        return new UffdDirtyTracker(linux, pid, take(linux, pid, targetFd), rangeStart, rangeLength, pageSize,
                DEFAULT_VEC_CAPACITY, false);
    }

    /** A duplicate, here, of descriptor {@code targetFd} of process {@code pid} (pidfd_getfd). */
    private static int take(LinuxNative linux, long pid, int targetFd) throws IOException {
        int pidfd = linux.pidfdOpen(pid);
        try {
            return linux.pidfdGetfd(pidfd, pid, targetFd);
        } finally {
            linux.close(pidfd);
        }
    }

    /**
     * Starts tracking a range of process {@code pid} with a userfaultfd of that process already open here as
     * {@code uffd}. Takes ownership of {@code uffd}: closes it on failure and in {@link #close()}. With
     * {@code pid} = this JVM's pid, this tracks the JVM's own memory (the tests do that).
     *
     * @param arm whether to register the range and write-protect it (a new log), or to take over the log that
     *            runs already (see {@link #adopt})
     */
    UffdDirtyTracker(LinuxNative linux, long pid, int uffd, long rangeStart, long rangeLength, int pageSize,
                     int vecCapacity, boolean arm) throws IOException {
        this.linux = linux;
        this.pid = pid;
        this.uffd = uffd;
        this.rangeStart = rangeStart;
        this.rangeLength = rangeLength;
        this.pageSize = pageSize;
        int pagemap = -1;
        boolean registered = false;
        try {
            if (pageSize <= 0 || Integer.bitCount(pageSize) != 1) {
                throw new IllegalArgumentException("page size must be a power of two: " + pageSize);
            }
            if (rangeLength <= 0 || rangeStart % pageSize != 0 || rangeLength % pageSize != 0) {
                throw new IllegalArgumentException(String.format(
                        "range [0x%x, +0x%x) is empty or not aligned to the page size %d", rangeStart, rangeLength,
                        pageSize));
            }
            if (vecCapacity <= 0) {
                throw new IllegalArgumentException("vec capacity must be positive: " + vecCapacity);
            }
            if (arm) {
                linux.registerWriteProtect(uffd, rangeStart, rangeLength);
                registered = true;
                linux.writeProtect(uffd, rangeStart, rangeLength);
            }
            pagemap = linux.open("/proc/" + pid + "/pagemap", LinuxNative.O_RDONLY, "the page map of process " + pid);
        } catch (IOException | RuntimeException e) {
            if (registered) {
                quietly(() -> linux.unregister(uffd, rangeStart, rangeLength));
            }
            quietly(() -> linux.close(uffd));
            throw e;
        }
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        this.pagemapFd = pagemap;
        this.arg = new Memory(KernelAbi.PM_SCAN_ARG_SIZE);
        this.argView = LinuxNative.view(arg);
        allocateVec(vecCapacity);
        LOG.debug("Tracking writes to {} of process {} with userfaultfd asynchronous write-protect",
                String.format("[0x%x, 0x%x)", rangeStart, rangeStart + rangeLength), pid);
    }

    private void allocateVec(int capacity) {
        if (vec != null) {
            vec.close();
        }
        vec = new Memory((long) capacity * KernelAbi.PAGE_REGION_SIZE);
        vecView = LinuxNative.view(vec);
        vecCapacity = capacity;
    }

    @Override
    public synchronized long[] harvest() throws IOException {
        if (closed) {
            throw new IllegalStateException("tracker is closed");
        }
        long end = rangeStart + rangeLength;
        long cursor = rangeStart;
        int count = 0;
        while (cursor < end) {
            new KernelAbi.PmScanArg(
                    KernelAbi.PM_SCAN_WP_MATCHING | KernelAbi.PM_SCAN_CHECK_WPASYNC,
                    cursor, end, 0, Pointer.nativeValue(vec), vecCapacity, 0,
                    0, KernelAbi.PAGE_IS_WRITTEN, 0, KernelAbi.PAGE_IS_WRITTEN).encode(argView);
            int regions = linux.pagemapScan(pagemapFd, arg, cursor, end);
            for (int i = 0; i < regions; i++) {
                int base = i * KernelAbi.PAGE_REGION_SIZE;
                long first = (vecView.getLong(base + KernelAbi.PageRegion.OFFSET_START) - rangeStart) >>> pageShift;
                long last = (vecView.getLong(base + KernelAbi.PageRegion.OFFSET_END) - rangeStart) >>> pageShift;
                count = append(count, first, last);
            }
            long walkEnd = argView.getLong(KernelAbi.PmScanArg.OFFSET_WALK_END);
            if (walkEnd >= end) {
                break;
            }
            if (walkEnd <= cursor && regions == 0) {
                throw new NativeCallException("ioctl(PAGEMAP_SCAN)", 0, String.format(
                        "PAGEMAP_SCAN made no progress at 0x%x in process %d", cursor, pid));
            }
            cursor = walkEnd;
            if (regions == vecCapacity && vecCapacity < MAX_VEC_CAPACITY) {
                allocateVec(Math.min(MAX_VEC_CAPACITY, vecCapacity * 2)); // the vec filled up: fewer calls next time
            }
        }
        return ascending(Arrays.copyOf(pages, count));
    }

    /**
     * The pages in ascending order without duplicates, as {@link DirtyTracker#harvest()} promises. A harvest of some
     * 3000 pages of a running QEMU guest (the hot-upgrade e2e test harvests without pausing) once came out of order;
     * the cause is not known (shmem THP is off on that host). Cheap when the order is right: one pass, no copy.
     */
    static long[] ascending(long[] pages) {
        for (int i = 1; i < pages.length; i++) {
            if (pages[i - 1] >= pages[i]) {
                LOG.debug("PAGEMAP_SCAN reported page {} after page {}; sorting the harvest", pages[i], pages[i - 1]);
                return Arrays.stream(pages).sorted().distinct().toArray();
            }
        }
        return pages;
    }

    private int append(int count, long first, long lastExclusive) {
        long n = lastExclusive - first;
        if (count + n > pages.length) {
            long wanted = Math.max(count + n, (long) pages.length * 2);
            pages = Arrays.copyOf(pages, (int) Math.min(wanted, Integer.MAX_VALUE - 8));
        }
        for (long p = first; p < lastExclusive; p++) {
            pages[count++] = p;
        }
        return count;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        // Best effort: the writer may have exited already, which also ends the registration.
        quietly(() -> linux.unregister(uffd, rangeStart, rangeLength));
        closeDescriptors();
    }

    /**
     * Closes this process's descriptors but leaves the range registered: the writer's own userfaultfd keeps the
     * registration and the write-protect state of every page, so the log goes on and {@link #adopt} takes it
     * over.
     */
    @Override
    public synchronized boolean release() {
        if (!closed) {
            closeDescriptors();
        }
        return true;
    }

    private void closeDescriptors() {
        closed = true;
        quietly(() -> linux.close(pagemapFd));
        quietly(() -> linux.close(uffd));
        arg.close();
        vec.close();
    }

    @Override
    public String name() {
        return "uffd-wp-async";
    }

    /** The number of pages in the tracked range. */
    public long pageCount() {
        return rangeLength / pageSize;
    }

    // ---- /proc/PID/maps ----

    /**
     * Finds where process {@code pid} maps the file {@code path} (e.g. QEMU's {@code mem-path}), from
     * {@code /proc/PID/maps}.
     *
     * @throws NoSuchFileException if the process does not map it
     */
    public static RamMapping findMapping(long pid, String path) throws IOException {
        Path maps = Path.of("/proc", Long.toString(pid), "maps");
        List<String> lines;
        try {
            lines = Files.readAllLines(maps);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(maps.toString(), null, "process " + pid + " does not exist");
        }
        List<String> names = new ArrayList<>();
        names.add(path);
        try {
            names.add(Path.of(path).toRealPath().toString()); // the kernel prints the resolved path
        } catch (IOException e) {
            // the file may be gone (unlinked after QEMU opened it): match by the given name only
        }
        for (String name : names) {
            RamMapping mapping = findMapping(lines, name);
            if (mapping != null) {
                return mapping;
            }
        }
        throw new NoSuchFileException(path, null, "process " + pid + " does not map it (see " + maps + ")");
    }

    /**
     * Finds the mapping of {@code path} in the lines of a {@code /proc/PID/maps} file. The kernel may split one
     * mapping into several lines (e.g. after madvise); contiguous lines of the same file are joined. Of several
     * separate mappings the one starting at file offset 0, then the longest, wins. Returns {@code null} if none.
     */
    static RamMapping findMapping(List<String> mapsLines, String path) {
        RamMapping best = null;
        RamMapping current = null;
        for (String line : mapsLines) {
            // start-end perms offset dev inode [pathname]
            String[] f = line.trim().split("\\s+", 6);
            if (f.length < 6) {
                continue;
            }
            String name = f[5];
            if (name.endsWith(" (deleted)")) {
                name = name.substring(0, name.length() - " (deleted)".length());
            }
            if (!name.equals(path)) {
                continue;
            }
            int dash = f[0].indexOf('-');
            long start = Long.parseUnsignedLong(f[0].substring(0, dash), 16);
            long end = Long.parseUnsignedLong(f[0].substring(dash + 1), 16);
            long offset = Long.parseUnsignedLong(f[2], 16);
            boolean shared = f[1].length() >= 4 && f[1].charAt(3) == 's';
            if (current != null && current.end() == start && current.fileOffset() + current.length() == offset
                    && current.shared() == shared) {
                current = new RamMapping(current.start(), current.length() + (end - start), current.fileOffset(), shared);
            } else {
                best = better(best, current);
                current = new RamMapping(start, end - start, offset, shared);
            }
        }
        return better(best, current);
    }

    private static RamMapping better(RamMapping a, RamMapping b) {
        if (a == null) {
            return b;
        }
        if (b == null) {
            return a;
        }
        if ((a.fileOffset() == 0) != (b.fileOffset() == 0)) {
            return a.fileOffset() == 0 ? a : b;
        }
        return b.length() > a.length() ? b : a;
    }

    private interface NativeAction {
        void run() throws IOException;
    }

    private static void quietly(NativeAction action) {
        try {
            action.run();
        } catch (IOException e) {
            LOG.debug("Ignored while releasing a dirty tracker: {}", e.getMessage());
        }
    }
}
