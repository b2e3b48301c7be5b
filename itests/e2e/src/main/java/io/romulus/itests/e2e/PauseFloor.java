package io.romulus.itests.e2e;

import java.util.Arrays;
import java.util.List;
import java.util.function.ToLongFunction;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;

/**
 * The floor of a checkpoint's pause on one guest, measured through the binding on the same guest in the same run:
 * the median of each of the pause's fixed commands ({@code stop}, the device-state capture, {@code cont}), each
 * without its thread hand-off (a client that read the reply on the calling thread would have none), and the hand-off
 * beside them; the memcpy of the dirty set is added per rate. And the table that prints the pause's breakdown (the
 * seed paper's Fig. 3) beside it.
 *
 * @param stopNanos        median {@code stop} round trip
 * @param deviceStateNanos median device-state capture
 * @param contNanos        median {@code cont} round trip
 * @param handOffNanos     median hand-offs of the three
 */
record PauseFloor(long stopNanos, long deviceStateNanos, long contNanos, long handOffNanos) {

    /** The fixed part of the floor: stop, device state and cont. */
    long fixedNanos() {
        return stopNanos + deviceStateNanos + contNanos;
    }

    /**
     * Pauses the guest {@code cycles} times, {@code intervalMs} apart, as a checkpoint does without the dirty pages:
     * stop, device state, cont, each timed on its own.
     */
    static PauseFloor measure(ProtectedDomain d, int cycles, int intervalMs)
            throws HypervisorException, InterruptedException {
        long[] stop = new long[cycles];
        long[] device = new long[cycles];
        long[] cont = new long[cycles];
        long[] handOff = new long[cycles];
        d.takeHandOffNanos();
        for (int i = 0; i < cycles; i++) {
            Thread.sleep(intervalMs);
            long t0 = System.nanoTime();
            d.pause();
            long t1 = System.nanoTime();
            long h1 = d.takeHandOffNanos();
            d.captureDeviceState();
            long t2 = System.nanoTime();
            long h2 = d.takeHandOffNanos();
            d.resume();
            long t3 = System.nanoTime();
            long h3 = d.takeHandOffNanos();
            stop[i] = t1 - t0 - h1;
            device[i] = t2 - t1 - h2;
            cont[i] = t3 - t2 - h3;
            handOff[i] = h1 + h2 + h3;
        }
        return new PauseFloor(median(stop), median(device), median(cont), median(handOff));
    }

    static void header() {
        System.out.printf("  %9s %7s %7s %7s %7s %7s %7s %7s %7s %8s | %7s %7s %7s %7s %8s %7s | %7s%n", "rate p/s",
                "stop", "harvest", "copy", "device", "disk", "cont", "handoff", "other", "pause", "stop", "device",
                "cont", "memcpy", "floor", "ratio", "handoff");
    }

    /**
     * One row: the median of each part of the pause over {@code stats} (µs), the median pause, then this floor's
     * parts, the memcpy of the dirty set ({@code memcpyNanos}, median), the floor and the median pause over it.
     */
    void row(String label, List<EpochStats> stats, long memcpyNanos) {
        long floor = fixedNanos() + memcpyNanos;
        long pause = median(stats, EpochStats::pauseNanos);
        System.out.printf("  %9s %7.0f %7.0f %7.0f %7.0f %7.0f %7.0f %7.0f %7.0f %8.0f | %7.0f %7.0f %7.0f %7.0f %8.0f"
                + " %7.2f | %7.0f%n", label, median(stats, e -> e.breakdown().stopNanos()) / 1e3,
                median(stats, e -> e.breakdown().harvestNanos()) / 1e3,
                median(stats, e -> e.breakdown().copyNanos()) / 1e3,
                median(stats, e -> e.breakdown().deviceStateNanos()) / 1e3,
                median(stats, e -> e.breakdown().diskBarrierNanos()) / 1e3,
                median(stats, e -> e.breakdown().contNanos()) / 1e3,
                median(stats, e -> e.breakdown().handOffNanos()) / 1e3,
                median(stats, e -> e.breakdown().otherNanos(e.pauseNanos())) / 1e3, pause / 1e3,
                stopNanos / 1e3, deviceStateNanos / 1e3, contNanos / 1e3, memcpyNanos / 1e3, floor / 1e3,
                pause / (double) Math.max(1, floor), handOffNanos / 1e3);
    }

    /** The median pause over {@code stats} divided by this floor plus {@code memcpyNanos}: issue 19's target is 1.3. */
    double ratio(List<EpochStats> stats, long memcpyNanos) {
        return median(stats, EpochStats::pauseNanos) / (double) Math.max(1, fixedNanos() + memcpyNanos);
    }

    /** The p99 pause over {@code stats} divided by their median: issue 19's target is 3. */
    static double tail(List<EpochStats> stats) {
        long[] pause = stats.stream().mapToLong(EpochStats::pauseNanos).sorted().toArray();
        return pause[Math.min(pause.length - 1, (int) (pause.length * 0.99))] / (double) Math.max(1,
                BenchSupport.median(pause));
    }

    /** Checkpoints a second over {@code stats}, from the first epoch's start to the last's. */
    static double rate(List<EpochStats> stats) {
        return (stats.size() - 1) * 1000.0 / Math.max(1, stats.get(stats.size() - 1).startedMillis()
                - stats.get(0).startedMillis());
    }

    /** Issue 19's three pause and rate targets for one phase's checkpoints at the interval asked for. */
    void check(Targets targets, String label, List<EpochStats> stats, long memcpyNanos, int intervalMs) {
        double ratio = ratio(stats, memcpyNanos);
        targets.check(label + ": pause median <= 1.3 x the floor", String.format(java.util.Locale.ROOT, "%.2f",
                ratio), ratio <= 1.3);
        double tail = tail(stats);
        targets.check(label + ": pause p99 <= 3 x the median", String.format(java.util.Locale.ROOT, "%.2f", tail),
                tail <= 3);
        if (intervalMs == 25) {
            double rate = rate(stats);
            targets.check(label + ": >= 38 checkpoints a second at 25 ms", String.format(java.util.Locale.ROOT,
                    "%.1f", rate), rate >= 38);
        }
    }

    /** What the table's columns are. */
    static void legend(int cycles) {
        System.out.println("left: median per part of the pause (µs) in the protected phase (" + PauseBreakdown.class
                .getSimpleName() + "; handoff = QMP answers waiting between the reader and the epoch thread, other ="
                + " bookkeeping no part covers); right: the floor on the same guest just before it was protected: "
                + cycles + " × (QMP stop, xen-save-devices-state, cont) timed through the binding, medians without"
                + " hand-offs, plus the memcpy of the dirty set; ratio = median pause / floor (target ≤ 1.3); last, the"
                + " floor cycles' own hand-offs (median), outside the floor.");
    }

    private static long median(List<EpochStats> stats, ToLongFunction<EpochStats> f) {
        return median(stats.stream().mapToLong(f).toArray());
    }

    private static long median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return BenchSupport.median(sorted);
    }
}
