package io.romulus.detector.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.detector.internal.HeartbeatGuard.Verdict;

import org.junit.jupiter.api.Test;

/** Forged, tampered, stale and replayed heartbeats are refused and counted; the genuine ones pass. */
class HeartbeatGuardTest {

    private static final HeartbeatKey KEY =
            HeartbeatKey.of("the nodes' secret, 32 bytes long".getBytes(StandardCharsets.US_ASCII));
    private static final HeartbeatKey OTHER =
            HeartbeatKey.of("somebody else's secret, 32 bytes".getBytes(StandardCharsets.US_ASCII));
    private static final long NOW = 1_800_000_000_000L;

    private final AtomicLong clock = new AtomicLong(NOW);
    private final HeartbeatGuard guard = new HeartbeatGuard(KEY, clock::get);

    private Verdict check(byte[] datagram) throws Heartbeat.MalformedException {
        return guard.check(Heartbeat.decode(ByteBuffer.wrap(datagram)), datagram, datagram.length);
    }

    @Test
    void genuineHeartbeatsPassInOrder() throws Exception {
        for (long s = 10; s < 20; s++) {
            assertEquals(Verdict.ACCEPTED, check(new Heartbeat("node-a", s, NOW + s).toBytes(KEY)));
        }
        assertEquals(Verdict.ACCEPTED, check(new Heartbeat("node-b", 3, NOW).toBytes(KEY)), "per node id");
        assertEquals(0, guard.rejected());
    }

    @Test
    void forgedAndTamperedHeartbeatsAreRefused() throws Exception {
        assertEquals(Verdict.UNAUTHENTICATED, check(new Heartbeat("node-a", 1, NOW).toBytes()), "no MAC");
        assertEquals(Verdict.UNAUTHENTICATED, check(new Heartbeat("node-a", 2, NOW).toBytes(OTHER)), "other key");
        byte[] genuine = new Heartbeat("node-a", 3, NOW).toBytes(KEY);
        byte[] tampered = genuine.clone();
        tampered[tampered.length - HeartbeatKey.MAC_BYTES - 9] ^= 0x40; // the sequence: 3 becomes a larger one
        assertEquals(Verdict.UNAUTHENTICATED, check(tampered));
        byte[] renamed = new Heartbeat("node-b", 3, NOW).toBytes();
        System.arraycopy(genuine, genuine.length - HeartbeatKey.MAC_BYTES, renamed,
                renamed.length - HeartbeatKey.MAC_BYTES, HeartbeatKey.MAC_BYTES);
        assertEquals(Verdict.UNAUTHENTICATED, check(renamed), "another node id under node-a's MAC");
        assertEquals(4, guard.rejected());
        assertEquals(Verdict.ACCEPTED, check(genuine), "refusals do not advance the sequence");
    }

    @Test
    void replayedHeartbeatsAreRefused() throws Exception {
        byte[] first = new Heartbeat("node-a", 100, NOW).toBytes(KEY);
        byte[] second = new Heartbeat("node-a", 101, NOW + 10).toBytes(KEY);
        assertEquals(Verdict.ACCEPTED, check(first));
        assertEquals(Verdict.ACCEPTED, check(second));
        assertEquals(Verdict.REPLAYED, check(second));
        assertEquals(Verdict.REPLAYED, check(first));
        assertEquals(2, guard.rejected());
        assertEquals(101, guard.lastSequence("node-a"));
    }

    @Test
    void heartbeatsSentOutsideTheWindowAreRefused() throws Exception {
        long window = HeartbeatGuard.WINDOW_MS;
        assertEquals(Verdict.STALE, check(new Heartbeat("node-a", 1, NOW - window - 1).toBytes(KEY)));
        assertEquals(Verdict.STALE, check(new Heartbeat("node-a", 2, NOW + window + 1).toBytes(KEY)));
        assertEquals(Verdict.STALE, check(new Heartbeat("node-a", 3, Long.MIN_VALUE).toBytes(KEY)));
        assertEquals(Verdict.ACCEPTED, check(new Heartbeat("node-a", 4, NOW - window).toBytes(KEY)));
        // this node restarted and forgot the sequences: an old capture still does not pass
        HeartbeatGuard restarted = new HeartbeatGuard(KEY, clock::get);
        clock.addAndGet(window + 1);
        byte[] old = new Heartbeat("node-a", 5, NOW).toBytes(KEY);
        assertEquals(Verdict.STALE, restarted.check(Heartbeat.decode(ByteBuffer.wrap(old)), old, old.length));
        assertEquals(3, guard.rejected());
    }

    /** Found by HeartbeatFuzzTest: the window's bounds overflowed near Long.MIN_VALUE and Long.MAX_VALUE. */
    @Test
    void theWindowHoldsAtTheEndsOfTheClock() throws Exception {
        for (long at : new long[] {Long.MIN_VALUE, Long.MIN_VALUE + 1, Long.MAX_VALUE}) {
            HeartbeatGuard g = new HeartbeatGuard(KEY, () -> at);
            byte[] now = new Heartbeat("node-a", 1, at).toBytes(KEY);
            assertEquals(Verdict.ACCEPTED, g.check(Heartbeat.decode(ByteBuffer.wrap(now)), now, now.length), "" + at);
            byte[] far = new Heartbeat("node-a", 2, at == Long.MAX_VALUE ? Long.MIN_VALUE : Long.MAX_VALUE)
                    .toBytes(KEY);
            assertEquals(Verdict.STALE, g.check(Heartbeat.decode(ByteBuffer.wrap(far)), far, far.length), "" + at);
        }
    }

    /** Found by HeartbeatFuzzTest: a first heartbeat of sequence Long.MIN_VALUE was taken for a replay. */
    @Test
    void anySequenceMayComeFirst() throws Exception {
        byte[] first = new Heartbeat("node-a", Long.MIN_VALUE, NOW).toBytes(KEY);
        assertEquals(Verdict.ACCEPTED, check(first));
        assertEquals(Long.MIN_VALUE, guard.lastSequence("node-a"));
        assertEquals(Verdict.REPLAYED, check(first));
        assertEquals(-1, guard.lastSequence("node-b"), "none accepted yet");
    }

    @Test
    void withoutAKeyEveryWellFormedHeartbeatPasses() throws Exception {
        HeartbeatGuard open = new HeartbeatGuard(null, clock::get);
        byte[] unsigned = new Heartbeat("node-a", 0, 0).toBytes();
        for (int i = 0; i < 2; i++) {
            assertEquals(Verdict.ACCEPTED,
                    open.check(Heartbeat.decode(ByteBuffer.wrap(unsigned)), unsigned, unsigned.length));
        }
        assertEquals(0, open.rejected());
    }
}
