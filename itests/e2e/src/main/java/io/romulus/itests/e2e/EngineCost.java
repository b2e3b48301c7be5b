package io.romulus.itests.e2e;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import io.romulus.api.engine.EpochStats;

/**
 * The guest's cost made visible (issue 19): per benchmark phase, the CPU time of the engine's own threads per
 * checkpoint and per second ({@link EpochStats#cpuNanos()}: the epoch loop and the sender) and the write-protect
 * faults the guest took per epoch to have its writes tracked ({@link EpochStats#writeFaults()}).
 */
final class EngineCost {

    private EngineCost() {
    }

    static void header() {
        System.out.println("The engine's own CPU time and the guest's write-protect faults (per phase)");
        System.out.printf(Locale.ROOT, "  %9s %12s %12s %10s %12s %12s%n", "rate p/s", "CPU/ckpt µs", "CPU ms/s",
                "% of core", "WP faults/ep", "WP faults/s");
    }

    /** One phase: medians per checkpoint, and totals over the phase's time. */
    static void row(String label, List<EpochStats> stats) {
        long[] cpu = stats.stream().mapToLong(EpochStats::cpuNanos).filter(n -> n >= 0).sorted().toArray();
        long[] faults = stats.stream().mapToLong(EpochStats::writeFaults).filter(n -> n >= 0).sorted().toArray();
        double seconds = stats.stream().mapToLong(e -> e.runNanos() + e.pauseNanos()).sum() / 1e9;
        double cpuPerSecondMs = seconds <= 0 ? 0 : Arrays.stream(cpu).sum() / 1e6 / seconds;
        System.out.printf(Locale.ROOT, "  %9s %12s %12.1f %10.1f %12s %12s%n", label,
                cpu.length == 0 ? "-" : Long.toString(BenchSupport.median(cpu) / 1000), cpuPerSecondMs,
                cpuPerSecondMs / 10, faults.length == 0 ? "-" : Long.toString(BenchSupport.median(faults)),
                faults.length == 0 || seconds <= 0 ? "-" : String.format(Locale.ROOT, "%.0f",
                        Arrays.stream(faults).sum() / seconds));
    }

    static void legend() {
        System.out.println("CPU = the epoch loop's thread since the previous checkpoint plus the sender's for this one "
                + "(ThreadMXBean), median per checkpoint and summed over the phase's time (QEMU's own CPU and the "
                + "transport's I/O threads are not in it); WP faults = pages the guest wrote under userfaultfd "
                + "write-protect, one fault each, median per epoch and per second (each costs the guest about 14 µs "
                + "on this machine, PITFALLS.md).");
    }
}
