package io.romulus.engine.internal.management;

import java.util.Arrays;
import java.util.List;

import io.romulus.api.engine.EpochStats;

/**
 * Rates and pause statistics of the checkpoints that started in the last {@code windowMillis}: what a chart of a
 * protection plots. A protection that stopped checkpointing drops to 0 once its last checkpoint leaves the window.
 *
 * @param checkpointsPerSecond checkpoints started per second
 * @param meanPauseMicros      mean pause
 * @param p99PauseMicros       99th percentile pause (the largest when fewer than 100 checkpoints)
 * @param dirtyPagesPerSecond  dirty pages copied per second
 * @param rawBytesPerSecond    checkpoint bytes per second before encoding
 * @param wireBytesPerSecond   checkpoint bytes per second sent
 * @param compressionRatio     raw over wire bytes (1 when nothing was sent)
 * @param ackMicros            mean time to ACK of the acknowledged checkpoints, or -1
 */
record EpochWindow(double checkpointsPerSecond, double meanPauseMicros, long p99PauseMicros,
        double dirtyPagesPerSecond, double rawBytesPerSecond, double wireBytesPerSecond, double compressionRatio,
        long ackMicros) {

    static final EpochWindow EMPTY = new EpochWindow(0, 0, 0, 0, 0, 0, 1.0, -1);

    /** {@code epochs} oldest first, as {@link io.romulus.api.engine.ReplicationEngine#epochs} returns them. */
    static EpochWindow of(List<EpochStats> epochs, long nowMillis, long windowMillis) {
        List<EpochStats> in = epochs.stream().filter(e -> e.startedMillis() > nowMillis - windowMillis).toList();
        if (in.isEmpty()) {
            return EMPTY;
        }
        // the window runs from the oldest checkpoint in it to now, so that a fresh protection is not overstated
        double seconds = Math.max(1, nowMillis - in.get(0).startedMillis()) / 1000.0;
        long[] pauses = in.stream().mapToLong(e -> e.pauseNanos() / 1000).sorted().toArray();
        long dirty = in.stream().mapToLong(EpochStats::dirtyPages).sum();
        long raw = in.stream().mapToLong(EpochStats::rawBytes).sum();
        long wire = in.stream().mapToLong(EpochStats::wireBytes).sum();
        long ack = (long) in.stream().filter(e -> e.ackNanos() >= 0).mapToLong(e -> e.ackNanos() / 1000).average()
                .orElse(-1);
        int p99 = (int) Math.ceil(pauses.length * 0.99) - 1;
        return new EpochWindow(in.size() / seconds, Arrays.stream(pauses).average().orElse(0), pauses[p99],
                dirty / seconds, raw / seconds, wire / seconds, wire == 0 ? 1.0 : (double) raw / wire, ack);
    }
}
