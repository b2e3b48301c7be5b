package io.romulus.qemu.internal.dirty;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The real arrangement with a small stand-in for QEMU: a python3 child started with
 * {@code LD_PRELOAD=libromulus-uffd.so} maps a /dev/shm file MAP_SHARED and writes the pages it is told;
 * this JVM takes its userfaultfd with pidfd_getfd and tracks it. Needs the preload library built by
 * native/ (system property {@code romulus.uffd.preload}) and python3.
 */
class UffdDirtyTrackerCrossProcessTest {

    private static final int PAGES = 512;
    private static final int UFFD_FD = 717; // not the default: shows that ROMULUS_UFFD_FD is honoured

    /** The child: maps the file, says "ready", then per input line writes one byte into each listed page. */
    private static final String CHILD = """
                                        import mmap, os, sys
                                        path, size, page = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
                                        fd = os.open(path, os.O_RDWR)
                                        m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                                        print('ready', flush=True)
                                        for line in sys.stdin:
                                            for word in line.split():
                                                at = int(word) * page
                                                m[at] = (m[at] + 1) % 256
                                            print('done', flush=True)\
                                        """;

    private Path file;
    private Path childErr;
    private Process child;
    private BufferedReader childOut;
    private Writer childIn;
    private int pageSize;

    @BeforeEach
    void startChild() throws IOException {
        Path preload = preloadLibrary();
        pageSize = LinuxNative.load().pageSize();
        file = Files.createTempFile(Path.of("/dev/shm"), "romulus-dirty-xproc-", ".ram");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength((long) PAGES * pageSize);
        }
        childErr = Files.createTempFile("romulus-dirty-child-", ".err");
        ProcessBuilder pb = new ProcessBuilder(python(), "-c", CHILD, file.toString(),
                Long.toString((long) PAGES * pageSize), Integer.toString(pageSize));
        pb.environment().put("LD_PRELOAD", preload.toString());
        pb.environment().put("ROMULUS_UFFD_FD", Integer.toString(UFFD_FD));
        pb.redirectError(childErr.toFile());
        child = pb.start();
        childOut = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.US_ASCII));
        childIn = new java.io.OutputStreamWriter(child.getOutputStream(), StandardCharsets.US_ASCII);
    }

    @AfterEach
    void stopChild() throws IOException, InterruptedException {
        if (child != null) {
            child.destroy();
            if (!child.waitFor(5, TimeUnit.SECONDS)) {
                child.destroyForcibly();
            }
        }
        if (file != null) {
            Files.deleteIfExists(file);
        }
        if (childErr != null) {
            Files.deleteIfExists(childErr);
        }
    }

    private static Path preloadLibrary() {
        String property = System.getProperty("romulus.uffd.preload");
        if (property == null || property.isBlank()) {
            fail("system property romulus.uffd.preload is not set; it names native/target/lib/libromulus-uffd.so"
                    + " (bundles/qemu/pom.xml sets it for surefire)");
        }
        Path lib = Path.of(property).toAbsolutePath().normalize();
        if (!Files.isRegularFile(lib)) {
            fail("the preload library " + lib + " is missing: build native/ first (mvn -pl native package,"
                    + " or bash native/preload/build.sh native/target/lib)");
        }
        return lib;
    }

    private static String python() {
        String configured = System.getProperty("romulus.python");
        if (configured != null && !configured.isBlank()) {
            return configured;
        }
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    private String childStderr() {
        try {
            return Files.readString(childErr).strip();
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    private void expectLine(String expected) throws IOException {
        String line = childOut.readLine();
        if (!expected.equals(line)) {
            fail("child said " + line + " instead of " + expected + "; its stderr: " + childStderr());
        }
    }

    private void childWrites(long... pages) throws IOException {
        StringBuilder line = new StringBuilder();
        for (long page : pages) {
            line.append(page).append(' ');
        }
        childIn.write(line.append('\n').toString());
        childIn.flush();
        expectLine("done");
    }

    @Test
    void tracksTheWritesOfAnotherProcessThroughItsPreloadedUffd() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            expectLine("ready");
            long pid = child.pid();
            String stderr = childStderr();
            assertTrue(!stderr.contains("romulus-uffd:"), "the preload library complained: " + stderr);
            Path fdLink = Path.of("/proc", Long.toString(pid), "fd", Integer.toString(UFFD_FD));
            assertEquals("anon_inode:[userfaultfd]", Files.readSymbolicLink(fdLink).toString(),
                    "descriptor " + UFFD_FD + " of the child");

            RamMapping mapping = UffdDirtyTracker.findMapping(pid, file.toString());
            assertEquals((long) PAGES * pageSize, mapping.length());
            assertTrue(mapping.shared());

            try (UffdDirtyTracker tracker = UffdDirtyTracker.attach(pid, UFFD_FD, mapping.start(), mapping.length(),
                    pageSize)) {
                assertArrayEquals(new long[0], tracker.harvest(), "nothing written since write-protecting");

                childWrites(3, 7, 8, 100);
                assertArrayEquals(new long[] {3, 7, 8, 100}, tracker.harvest());

                childWrites(100, 5, 511, 200);
                assertArrayEquals(new long[] {5, 100, 200, 511}, tracker.harvest(), "only the second round's pages");

                assertArrayEquals(new long[0], tracker.harvest(), "no writes since the last harvest");
            }
        });
    }

    /**
     * A binding update: the tracker lets go of its descriptors without unregistering; the child's own userfaultfd
     * keeps the write-protect state, so a tracker that takes the descriptor again without re-arming reports what was
     * written before and during the hand-over.
     */
    @Test
    void aReleasedLogIsTakenOverWithEveryPageWrittenSinceTheLastHarvest() throws IOException {
        expectLine("ready");
        long pid = child.pid();
        RamMapping mapping = UffdDirtyTracker.findMapping(pid, file.toString());
        UffdDirtyTracker first = UffdDirtyTracker.attach(pid, UFFD_FD, mapping.start(), mapping.length(), pageSize);
        childWrites(3);
        assertArrayEquals(new long[] {3}, first.harvest());
        childWrites(10, 20);
        assertTrue(first.release(), "a userfaultfd log survives its tracker");
        childWrites(30, 10);
        try (UffdDirtyTracker second = UffdDirtyTracker.adopt(pid, UFFD_FD, mapping.start(), mapping.length(),
                pageSize)) {
            assertArrayEquals(new long[] {10, 20, 30}, second.harvest(), "written before and after the release");
            assertArrayEquals(new long[0], second.harvest());
            childWrites(4);
            assertArrayEquals(new long[] {4}, second.harvest(), "the adopted log re-arms as the first did");
        }
        // closing (unlike releasing) ends the registration: there is nothing left to take over
        try (UffdDirtyTracker third = UffdDirtyTracker.adopt(pid, UFFD_FD, mapping.start(), mapping.length(),
                pageSize)) {
            NativeCallException e = org.junit.jupiter.api.Assertions.assertThrows(NativeCallException.class,
                    third::harvest);
            assertEquals("EPERM", e.errnoName());
        }
    }

    @Test
    void aProcessWithoutTheDescriptorIsReportedClearly() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            expectLine("ready");
            NativeCallException e = org.junit.jupiter.api.Assertions.assertThrows(NativeCallException.class,
                    () -> UffdDirtyTracker.attach(child.pid(), UFFD_FD + 1, 0, pageSize, pageSize));
            assertEquals("EBADF", e.errnoName());
            assertTrue(e.getMessage().contains("LD_PRELOAD=libromulus-uffd.so"), e.getMessage());
        });
    }
}
