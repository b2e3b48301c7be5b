package io.romulus.itests.e2e;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.EpochStats;

/**
 * The guest's cost made visible (issue 19): per benchmark phase, the CPU time of the engine's own threads per
 * checkpoint and per second ({@link EpochStats#cpuNanos()}: the epoch loop and the sender) and the write-protect
 * faults the guest took per epoch to have its writes tracked ({@link EpochStats#writeFaults()}); beside them the
 * engine's CPU time on the backup node ({@link EngineCpu}: the thread that receives, decodes, stages and applies the
 * checkpoints).
 */
final class EngineCost {

    private EngineCost() {
    }

    static void header() {
        System.out.println("The engine's own CPU time and the guest's write-protect faults (per phase)");
        System.out.printf(Locale.ROOT, "  %9s | %-34s | %-34s |%n", "", "primary", "backup");
        System.out.printf(Locale.ROOT, "  %9s | %11s %11s %10s | %11s %11s %10s | %12s %12s%n", "rate p/s",
                "CPU/ckpt µs", "CPU ms/s", "% of core", "CPU/ckpt µs", "CPU ms/s", "% of core", "WP faults/ep",
                "WP faults/s");
    }

    /**
     * One phase: on the primary, medians per checkpoint and totals over the phase's time; {@code backup}, the backup's
     * figures at the end of the phase.
     */
    static void row(String label, List<EpochStats> stats, EngineCpu backup) {
        long[] cpu = stats.stream().mapToLong(EpochStats::cpuNanos).filter(n -> n >= 0).sorted().toArray();
        long[] faults = stats.stream().mapToLong(EpochStats::writeFaults).filter(n -> n >= 0).sorted().toArray();
        double seconds = stats.stream().mapToLong(e -> e.runNanos() + e.pauseNanos()).sum() / 1e9;
        double cpuPerSecondMs = seconds <= 0 ? 0 : Arrays.stream(cpu).sum() / 1e6 / seconds;
        System.out.printf(Locale.ROOT, "  %9s | %11s %11.1f %10.1f | %11s %11s %10s | %12s %12s%n", label,
                cpu.length == 0 ? "-" : Long.toString(BenchSupport.median(cpu) / 1000), cpuPerSecondMs,
                cpuPerSecondMs / 10, backup.known() ? Long.toString(backup.perCheckpointNanos() / 1000) : "-",
                backup.known() ? String.format(Locale.ROOT, "%.1f", backup.perSecondNanos() / 1e6) : "-",
                backup.known() ? String.format(Locale.ROOT, "%.1f", backup.perSecondNanos() / 1e7) : "-",
                faults.length == 0 ? "-" : Long.toString(BenchSupport.median(faults)),
                faults.length == 0 || seconds <= 0 ? "-" : String.format(Locale.ROOT, "%.0f",
                        Arrays.stream(faults).sum() / seconds));
    }

    static void legend() {
        System.out.println("CPU = the engine's own threads (ThreadMXBean), median per checkpoint and summed per second."
                + " Primary: the epoch loop's thread since the previous checkpoint plus the sender's for this one,"
                + " over the phase (QEMU's own CPU and the transport's I/O threads are not in it). Backup: the"
                + " transport's thread that receives the stream, from the end of one checkpoint to the end of the"
                + " next (reading, decrypting, decoding, staging, applying and committing, the ACK), over the phase's"
                + " last 5 s, as romulus:status shows it; WP faults = pages the guest wrote under userfaultfd"
                + " write-protect, one fault each, median per epoch and per second (what each costs depends on the"
                + " machine, 0.9 to 15 us on this one in December 2026: the page-fault probe's line above gives it for"
                + " this run).");
    }
}
