package io.romulus.detector.internal;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Lets through only the heartbeats a node holding the pre-shared secret sent, once, lately: the MAC must verify under
 * the {@link HeartbeatKey}; the sequence must be above the last one accepted from the same node id (a replay of any
 * earlier heartbeat is refused while this node runs); and the time it was sent must be within
 * {@value #WINDOW_MS} ms of this node's clock (a replay of an old heartbeat is refused after this node restarted and
 * forgot the sequences too). The window is generous against clocks out of step (NTP keeps a cluster's nodes within
 * milliseconds, an unsynchronised clock drifts a second or so a day) because a node whose clock is off by more than
 * the window has all its heartbeats refused, and is convicted; it is short against the only replay it leaves open,
 * within 30 s of a restart of this node or of the peer's last heartbeat. Refusals are counted.
 *
 * <p>Without a key (no secret file) every well-formed heartbeat is let through, as before heartbeats carried a MAC.
 * The guard outlives the heartbeat socket (a rebind keeps the sequences).
 */
final class HeartbeatGuard {

    /** How far the time a heartbeat was sent may be from this node's clock, in milliseconds. */
    static final long WINDOW_MS = 30_000;

    /** Why a heartbeat was refused, or that it was not. */
    enum Verdict {
        ACCEPTED, UNAUTHENTICATED, STALE, REPLAYED
    }

    private volatile HeartbeatKey key;
    private final LongSupplier clock;
    /** Per node id, the last sequence accepted; only node ids that proved the secret are kept. */
    private final Map<String, long[]> sequences = new ConcurrentHashMap<>();
    private final AtomicLong rejected = new AtomicLong();

    HeartbeatGuard(HeartbeatKey key, LongSupplier clock) {
        this.key = key;
        this.clock = clock;
    }

    /** The key heartbeats are signed and checked with; null: none. */
    HeartbeatKey key() {
        return key;
    }

    /** Another key (the secret file changed); the sequences stay. */
    void key(HeartbeatKey next) {
        key = next;
    }

    /** Heartbeats refused so far: not authenticated, sent too far from now, or replayed. */
    long rejected() {
        return rejected.get();
    }

    /**
     * Judges a well-formed heartbeat; {@code datagram[0, size)} is what arrived. Called on the receiving thread
     * only (the sequences of one node id are never updated by two threads at once).
     */
    Verdict check(Heartbeat heartbeat, byte[] datagram, int size) {
        HeartbeatKey k = key;
        if (k == null) {
            return Verdict.ACCEPTED;
        }
        Verdict v = judge(k, heartbeat, datagram, size);
        if (v != Verdict.ACCEPTED) {
            rejected.incrementAndGet();
        }
        return v;
    }

    private Verdict judge(HeartbeatKey k, Heartbeat heartbeat, byte[] datagram, int size) {
        if (!k.verify(datagram, size)) {
            return Verdict.UNAUTHENTICATED;
        }
        long now = clock.getAsLong();
        // sentAt is the sender's word: compared without overflow (a sentAt near Long.MIN_VALUE is not "in the window")
        long skew;
        try {
            skew = Math.subtractExact(heartbeat.sentAt(), now);
        } catch (ArithmeticException e) {
            return Verdict.STALE;
        }
        if (skew < -WINDOW_MS || skew > WINDOW_MS) {
            return Verdict.STALE;
        }
        // {accepted any yet (0 or 1), the last sequence accepted}: every sequence, Long.MIN_VALUE too, may come first
        long[] last = sequences.computeIfAbsent(heartbeat.nodeId(), n -> new long[] {0, 0});
        if (last[0] != 0 && heartbeat.sequence() <= last[1]) {
            return Verdict.REPLAYED;
        }
        last[0] = 1;
        last[1] = heartbeat.sequence();
        return Verdict.ACCEPTED;
    }

    /** The last sequence accepted from {@code nodeId}, for messages. */
    long lastSequence(String nodeId) {
        long[] last = sequences.get(nodeId);
        return last == null || last[0] == 0 ? -1 : last[1];
    }
}
