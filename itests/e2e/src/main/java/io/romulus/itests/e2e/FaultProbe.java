package io.romulus.itests.e2e;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Locale;

/**
 * What one page fault costs on this machine now: the first write to each page of a fresh shared mapping of a file on
 * {@code /dev/shm}, as QEMU's guest RAM is mapped, timed per page (a minor fault: the kernel allocates the page and
 * fills in the entry). A write-protect fault of the dirty log is a fault of the same kind on the same memory, so this
 * is what each of the guest's write faults costs at least. It differs between the machines this one has run on: the
 * same program measured 0.9 µs one morning and 10-15 µs on another boot (a nested VM whose host resolves the fault
 * slowly), and the guest's cost of tracking follows it.
 */
final class FaultProbe {

    private static final int PAGE = 4096;
    private static final int PAGES = 16_384; // 64 MiB
    private static final int ROUNDS = 3;

    private FaultProbe() {
    }

    /** The median over a few rounds of the first write's cost per page, in microseconds. */
    static double microsPerFault() throws IOException {
        double[] rounds = new double[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            rounds[r] = round();
        }
        Arrays.sort(rounds);
        return rounds[ROUNDS / 2];
    }

    private static double round() throws IOException {
        Path file = Files.createTempFile(Path.of("/dev/shm"), "romulus-fault-probe-", ".ram");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.truncate((long) PAGES * PAGE);
            MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_WRITE, 0, (long) PAGES * PAGE);
            long t0 = System.nanoTime();
            for (int i = 0; i < PAGES; i++) {
                map.put(i * PAGE, (byte) 1);
            }
            return (System.nanoTime() - t0) / 1000.0 / PAGES;
        } finally {
            Files.delete(file); // the mapping goes with the buffer; the file's pages go once both are gone
        }
    }

    /** One line for a benchmark's report: the probe's figure and what {@code faultsPerS} faults then cost. */
    static String describe(double microsPerFault, double faultsPerS) {
        return String.format(Locale.ROOT, "  A page fault on this machine now (first writes to a fresh shared mapping on"
                + " /dev/shm, median of %d rounds of %d pages): %.2f us; %.0f faults a second cost at least %.0f ms a"
                + " second (%.1f%% of a core).", ROUNDS, PAGES, microsPerFault, faultsPerS,
                faultsPerS * microsPerFault / 1000, faultsPerS * microsPerFault / 10_000);
    }
}
