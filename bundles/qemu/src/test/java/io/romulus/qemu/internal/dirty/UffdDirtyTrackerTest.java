package io.romulus.qemu.internal.dirty;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Pointer;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.LongStream;
import io.romulus.support.linux.NativeCallException;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The userfaultfd tracker on memory of this JVM: a /dev/shm file mapped MAP_SHARED, a userfaultfd created
 * here, the same tracker code that runs against QEMU (pid = our own pid).
 */
class UffdDirtyTrackerTest {

    private static final int PAGES = 1024;

    private LinuxNative linux;
    private int pageSize;
    private long size;
    private Path file;
    private Pointer base;

    @BeforeEach
    void mapSharedMemory() throws IOException {
        linux = LinuxNative.load();
        pageSize = linux.pageSize();
        size = (long) PAGES * pageSize;
        file = Files.createTempFile(Path.of("/dev/shm"), "romulus-dirty-test-", ".ram");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
        int fd = linux.open(file.toString(), LinuxNative.O_RDWR, "the test RAM file");
        try {
            base = linux.mmapShared(fd, size, 0);
        } finally {
            linux.close(fd);
        }
    }

    @AfterEach
    void unmap() throws IOException {
        if (base != null) {
            linux.munmap(base, size);
        }
        Files.deleteIfExists(file);
    }

    private UffdDirtyTracker tracker(int vecCapacity) throws IOException {
        int uffd = linux.openAsyncWriteProtectUffd();
        return new UffdDirtyTracker(linux, ProcessHandle.current().pid(), uffd, Pointer.nativeValue(base), size,
                pageSize, vecCapacity, true);
    }

    private void write(long... pages) {
        for (long page : pages) {
            long at = page * pageSize + (page * 31) % pageSize;
            base.setByte(at, (byte) (base.getByte(at) + 1));
        }
    }

    /** Untouched shmem (no page-table entries yet) and fully populated memory must both be tracked. */
    @ParameterizedTest(name = "populated before tracking: {0}")
    @ValueSource(booleans = {false, true})
    void harvestReturnsExactlyTheWrittenPagesAndReArms(boolean populated) throws IOException {
        if (populated) {
            write(LongStream.range(0, PAGES).toArray());
        }
        try (UffdDirtyTracker tracker = tracker(UffdDirtyTracker.DEFAULT_VEC_CAPACITY)) {
            assertEquals("uffd-wp-async", tracker.name());
            assertEquals(PAGES, tracker.pageCount());
            assertArrayEquals(new long[0], tracker.harvest(), "nothing written since write-protecting");

            write(3, 7, 8, 100);
            assertArrayEquals(new long[] {3, 7, 8, 100}, tracker.harvest());

            write(100, 0, 1023, 500);
            assertArrayEquals(new long[] {0, 100, 500, 1023}, tracker.harvest(), "only the second round's pages");

            assertArrayEquals(new long[0], tracker.harvest(), "no writes since the last harvest");
        }
    }

    @Test
    void readsDoNotCountAsWrites() throws IOException {
        try (UffdDirtyTracker tracker = tracker(UffdDirtyTracker.DEFAULT_VEC_CAPACITY)) {
            long sum = 0;
            for (int page = 0; page < PAGES; page++) {
                sum += base.getByte((long) page * pageSize);
            }
            write(42);
            assertArrayEquals(new long[] {42}, tracker.harvest(), "read " + PAGES + " pages (sum " + sum + ")");
        }
    }

    @Test
    void aFullRegionVectorIsGrownAndTheScanResumed() throws IOException {
        long[] every3rd = LongStream.range(0, PAGES / 3).map(i -> i * 3).toArray(); // 341 separate regions
        try (UffdDirtyTracker tracker = tracker(4)) {
            write(every3rd);
            assertArrayEquals(every3rd, tracker.harvest());
            write(every3rd);
            assertArrayEquals(every3rd, tracker.harvest(), "second harvest with the grown vector");
            assertArrayEquals(new long[0], tracker.harvest());
        }
    }

    @Test
    void adjacentPagesComeBackAsOneRun() throws IOException {
        try (UffdDirtyTracker tracker = tracker(1)) {
            long[] run = LongStream.range(10, 60).toArray();
            write(run);
            assertArrayEquals(run, tracker.harvest());
        }
    }

    @Test
    void closedTrackerRefusesToHarvestAndClosesOnce() throws IOException {
        UffdDirtyTracker tracker = tracker(UffdDirtyTracker.DEFAULT_VEC_CAPACITY);
        tracker.close();
        tracker.close();
        assertThrows(IllegalStateException.class, tracker::harvest);
        // unregistered: the range can be registered again by a new tracker
        try (UffdDirtyTracker again = tracker(UffdDirtyTracker.DEFAULT_VEC_CAPACITY)) {
            write(9);
            assertArrayEquals(new long[] {9}, again.harvest());
        }
    }

    @Test
    void unregisteredMemoryIsReportedClearly() throws IOException {
        int uffd = linux.openAsyncWriteProtectUffd();
        try {
            int pagemap = linux.open("/proc/self/pagemap", LinuxNative.O_RDONLY, "own page map");
            try (com.sun.jna.Memory arg = new com.sun.jna.Memory(KernelAbi.PM_SCAN_ARG_SIZE);
                 com.sun.jna.Memory vec = new com.sun.jna.Memory(16L * KernelAbi.PAGE_REGION_SIZE)) {
                long start = Pointer.nativeValue(base);
                new KernelAbi.PmScanArg(KernelAbi.PM_SCAN_WP_MATCHING | KernelAbi.PM_SCAN_CHECK_WPASYNC,
                        start, start + size, 0, Pointer.nativeValue(vec), 16, 0, 0, KernelAbi.PAGE_IS_WRITTEN, 0,
                        KernelAbi.PAGE_IS_WRITTEN).encode(LinuxNative.view(arg));
                NativeCallException e = assertThrows(NativeCallException.class,
                        () -> linux.pagemapScan(pagemap, arg, start, start + size));
                assertEquals("EPERM", e.errnoName());
                assertTrue(e.getMessage().contains("not registered for asynchronous write-protect"), e.getMessage());
            } finally {
                linux.close(pagemap);
            }
        } finally {
            linux.close(uffd);
        }
    }

    @Test
    void rejectsAnUnalignedRangeAndClosesTheUffd() throws IOException {
        int uffd = linux.openAsyncWriteProtectUffd();
        assertThrows(IllegalArgumentException.class, () -> new UffdDirtyTracker(linux, ProcessHandle.current().pid(),
                uffd, Pointer.nativeValue(base) + 1, size - pageSize, pageSize, 8, true));
        assertTrue(Files.notExists(Path.of("/proc/self/fd/" + uffd))
                || !Files.readSymbolicLink(Path.of("/proc/self/fd/" + uffd)).toString().contains("userfaultfd"),
                "the tracker took ownership of the uffd and closed it");
    }

    @Test
    void findsItsOwnMappingInProcMaps() throws IOException {
        RamMapping mapping = UffdDirtyTracker.findMapping(ProcessHandle.current().pid(), file.toString());
        assertEquals(Pointer.nativeValue(base), mapping.start());
        assertEquals(size, mapping.length());
        assertEquals(0, mapping.fileOffset());
        assertTrue(mapping.shared());
    }

    @Test
    void parsesSplitDeletedAndSeparateMappings() {
        String ram = "/dev/shm/romulus-vm1.ram";
        List<String> maps = List.of(
                "55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234    /usr/bin/qemu-system-x86_64",
                "7f0000000000-7f0000200000 rw-s 00100000 00:1a 777     " + ram,        // a later window
                "7f1000000000-7f1000400000 rw-s 00000000 00:1a 777     " + ram,        // offset 0, split in three
                "7f1000400000-7f1000600000 rw-s 00400000 00:1a 777     " + ram,
                "7f1000600000-7f1008000000 rw-s 00600000 00:1a 777     " + ram + " (deleted)",
                "7f2000000000-7f2000001000 rw-p 00000000 00:00 0 ",
                "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0       [stack]");
        RamMapping m = UffdDirtyTracker.findMapping(maps, ram);
        assertEquals(new RamMapping(0x7f1000000000L, 0x8000000L, 0, true), m);
        assertNull(UffdDirtyTracker.findMapping(maps, "/dev/shm/other"));
        assertEquals(new RamMapping(0x55d0c0000000L, 0x100000, 0, false),
                UffdDirtyTracker.findMapping(maps, "/usr/bin/qemu-system-x86_64"));
    }

    @Test
    void aHarvestIsAscendingWithoutDuplicatesWhateverOrderTheScanReported() {
        assertArrayEquals(new long[] {1, 2, 5, 9}, UffdDirtyTracker.ascending(new long[] {1, 5, 2, 5, 9}));
        long[] inOrder = {0, 3, 4};
        assertSame(inOrder, UffdDirtyTracker.ascending(inOrder), "kept as it is, not copied");
    }
}
