package io.romulus.engine.internal;

import java.util.Arrays;

import io.romulus.api.engine.EngineCpu;

/**
 * The engine's own CPU time per checkpoint of one domain on this node, as {@code romulus:status} and the Protection
 * MBean show it ({@link EngineCpu}): the median per checkpoint and the total per second of the checkpoints of the
 * last {@value #WINDOW_MILLIS} ms. The backup's stream adds an entry per committed checkpoint here (a ring of longs:
 * adding allocates nothing); the primary's are in its {@link EpochHistory}, which sums them up with {@link #of}.
 */
final class CheckpointCpu {

    /** The window of the figures, as the Protection MBean's rates. */
    static final long WINDOW_MILLIS = 5000;

    private final long[] sinceMillis;
    private final long[] cpuNanos;
    private long added;

    CheckpointCpu(int capacity) {
        this.sinceMillis = new long[capacity];
        this.cpuNanos = new long[capacity];
    }

    /** A checkpoint whose CPU time, {@code nanos} (-1 where not known), was measured from {@code fromMillis} on. */
    synchronized void add(long fromMillis, long nanos) {
        int at = (int) (added % sinceMillis.length);
        sinceMillis[at] = fromMillis;
        cpuNanos[at] = nanos;
        added++;
    }

    /** The figures of the checkpoints measured since {@code nowMillis - WINDOW_MILLIS}. */
    synchronized EngineCpu summary(long nowMillis) {
        long[] in = new long[(int) Math.min(added, sinceMillis.length)];
        int n = 0;
        long oldest = nowMillis;
        for (int i = 0; i < in.length; i++) {
            if (sinceMillis[i] > nowMillis - WINDOW_MILLIS && cpuNanos[i] >= 0) {
                in[n++] = cpuNanos[i];
                oldest = Math.min(oldest, sinceMillis[i]);
            }
        }
        return of(Arrays.copyOf(in, n), oldest, nowMillis);
    }

    /**
     * The figures of checkpoints that took {@code nanos} each (none negative), measured between {@code fromMillis}
     * and {@code nowMillis}: the median per checkpoint, and their sum per second of that time.
     */
    static EngineCpu of(long[] nanos, long fromMillis, long nowMillis) {
        if (nanos.length == 0) {
            return EngineCpu.UNKNOWN;
        }
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        long sum = 0;
        for (long n : sorted) {
            sum += n;
        }
        long spanMillis = Math.max(1, nowMillis - fromMillis);
        return new EngineCpu(sorted[sorted.length / 2], sum * 1000 / spanMillis, sorted.length);
    }
}
