package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;

import io.romulus.api.engine.EpochStats;

/**
 * The last {@code capacity} epochs of one protected domain. The epoch loop adds an entry per checkpoint, the sender
 * completes it with the transfer, the ACK completes it with the time to ACK.
 */
final class EpochHistory {

    private final EpochStats[] ring;
    private long newest = -1;

    EpochHistory(int capacity) {
        this.ring = new EpochStats[capacity];
    }

    synchronized void add(EpochStats stats) {
        ring[slot(stats.epoch())] = stats;
        newest = Math.max(newest, stats.epoch());
    }

    synchronized void transferred(long epoch, long rawBytes, long wireBytes) {
        EpochStats s = ring[slot(epoch)];
        if (s != null && s.epoch() == epoch) {
            ring[slot(epoch)] = s.withTransfer(rawBytes, wireBytes);
        }
    }

    synchronized void acknowledged(long epoch, long ackNanos) {
        EpochStats s = ring[slot(epoch)];
        if (s != null && s.epoch() == epoch && s.ackNanos() < 0) {
            ring[slot(epoch)] = s.withAck(ackNanos);
        }
    }

    synchronized EpochStats get(long epoch) {
        EpochStats s = ring[slot(epoch)];
        return s != null && s.epoch() == epoch ? s : null;
    }

    /** Up to {@code limit} most recent entries, oldest first. */
    synchronized List<EpochStats> recent(int limit) {
        List<EpochStats> out = new ArrayList<>();
        if (newest < 0) {
            return out;
        }
        long from = Math.max(0, newest - Math.min(limit, ring.length) + 1);
        for (long e = from; e <= newest; e++) {
            EpochStats s = ring[slot(e)];
            if (s != null && s.epoch() == e) {
                out.add(s);
            }
        }
        return out;
    }

    private int slot(long epoch) {
        return (int) Math.floorMod(epoch, (long) ring.length);
    }
}
