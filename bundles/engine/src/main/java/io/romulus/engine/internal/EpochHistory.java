package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.EpochStats;

/**
 * The last {@code capacity} epochs of one protected domain. The epoch loop adds an entry per checkpoint, the sender
 * completes it with the transfer, the ACK completes it with the time to ACK. The entries live in one ring of longs,
 * so recording an epoch allocates nothing; {@link EpochStats} are made only when someone asks.
 */
final class EpochHistory {

    private static final int EPOCH = 0;
    private static final int STARTED = 1;
    private static final int RUN = 2;
    private static final int DIRTY = 3;
    private static final int PAUSE = 4;
    private static final int RAW = 5;
    private static final int WIRE = 6;
    private static final int ACK = 7;
    private static final int CPU = 8;
    private static final int FAULTS = 9;
    /** The pause's parts, in {@link PauseClock}'s order. */
    private static final int PARTS = 10;
    private static final int WIDTH = PARTS + PauseClock.PARTS;

    private final int capacity;
    private final long[] ring;
    private long newest = -1;

    EpochHistory(int capacity) {
        this.capacity = capacity;
        this.ring = new long[capacity * WIDTH];
        for (int i = 0; i < capacity; i++) {
            ring[i * WIDTH + EPOCH] = -1;
        }
    }

    /**
     * Records checkpoint {@code epoch}: when it started (wall clock), how long the domain ran, the pages copied, the
     * pause and its {@code parts} ({@link PauseClock#parts()}, copied), the CPU time of the epoch loop's thread since
     * the previous checkpoint and the write faults behind the harvest (each -1 where not known).
     */
    synchronized void add(long epoch, long startedMillis, long runNanos, int dirtyPages, long pauseNanos,
            long[] parts, long loopCpuNanos, long writeFaults) {
        int at = slot(epoch);
        ring[at + EPOCH] = epoch;
        ring[at + STARTED] = startedMillis;
        ring[at + RUN] = runNanos;
        ring[at + DIRTY] = dirtyPages;
        ring[at + PAUSE] = pauseNanos;
        ring[at + RAW] = 0;
        ring[at + WIRE] = 0;
        ring[at + ACK] = -1;
        ring[at + CPU] = loopCpuNanos;
        ring[at + FAULTS] = writeFaults;
        System.arraycopy(parts, 0, ring, at + PARTS, PauseClock.PARTS);
        newest = Math.max(newest, epoch);
    }

    /** Checkpoint {@code epoch} was sent: its bytes, and the CPU time the sender's thread spent on it. */
    synchronized void transferred(long epoch, long rawBytes, long wireBytes, long senderCpuNanos) {
        int at = slot(epoch);
        if (ring[at + EPOCH] == epoch) {
            ring[at + RAW] = rawBytes;
            ring[at + WIRE] = wireBytes;
            if (ring[at + CPU] >= 0 && senderCpuNanos >= 0) {
                ring[at + CPU] += senderCpuNanos;
            }
        }
    }

    synchronized void acknowledged(long epoch, long ackNanos) {
        int at = slot(epoch);
        if (ring[at + EPOCH] == epoch && ring[at + ACK] < 0) {
            ring[at + ACK] = ackNanos;
        }
    }

    synchronized EpochStats get(long epoch) {
        int at = slot(epoch);
        return epoch >= 0 && ring[at + EPOCH] == epoch ? stats(at) : null;
    }

    /** Up to {@code limit} most recent entries, oldest first. */
    synchronized List<EpochStats> recent(int limit) {
        List<EpochStats> out = new ArrayList<>();
        if (newest < 0) {
            return out;
        }
        long from = Math.max(0, newest - Math.min(limit, capacity) + 1);
        for (long e = from; e <= newest; e++) {
            int at = slot(e);
            if (ring[at + EPOCH] == e) {
                out.add(stats(at));
            }
        }
        return out;
    }

    /**
     * The engine's own CPU time of the checkpoints that started in the last {@link CheckpointCpu#WINDOW_MILLIS}
     * (each measured from its start on): read from the ring, without making their {@link EpochStats}.
     */
    synchronized EngineCpu cpu(long nowMillis) {
        long[] in = new long[capacity];
        int n = 0;
        long oldest = nowMillis;
        for (int i = 0; i < capacity; i++) {
            int at = i * WIDTH;
            if (ring[at + EPOCH] >= 0 && ring[at + STARTED] > nowMillis - CheckpointCpu.WINDOW_MILLIS
                    && ring[at + CPU] >= 0) {
                in[n++] = ring[at + CPU];
                oldest = Math.min(oldest, ring[at + STARTED]);
            }
        }
        return CheckpointCpu.of(Arrays.copyOf(in, n), oldest, nowMillis);
    }

    private EpochStats stats(int at) {
        return new EpochStats(ring[at + EPOCH], ring[at + STARTED], ring[at + RUN], (int) ring[at + DIRTY],
                ring[at + PAUSE], ring[at + PARTS + PauseClock.COPY], ring[at + RAW], ring[at + WIRE], ring[at + ACK],
                PauseClock.breakdown(ring, at + PARTS), ring[at + CPU], ring[at + FAULTS]);
    }

    private int slot(long epoch) {
        return (int) Math.floorMod(epoch, (long) capacity) * WIDTH;
    }
}
