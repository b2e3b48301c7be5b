package io.romulus.detector.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Fuzzes what a node does with a UDP datagram on its heartbeat port: {@link Heartbeat#decode} either refuses it with
 * {@link Heartbeat.MalformedException} or reads a heartbeat that encodes back to the same bytes (the MAC aside), and
 * the {@link HeartbeatGuard} accepts none of them without the MAC under the secret. The seeds
 * (.../HeartbeatFuzzTestInputs/datagrams/) are datagrams {@link Heartbeat#toBytes} wrote. Run by execution
 * {@code fuzz} of the parent pom (docs/developing.md).
 */
class HeartbeatFuzzTest {

    private static final HeartbeatKey KEY = HeartbeatKey.of("fuzz secret".getBytes(StandardCharsets.UTF_8));

    @FuzzTest
    void datagrams(byte[] datagram) {
        Heartbeat h;
        try {
            h = Heartbeat.decode(ByteBuffer.wrap(datagram));
        } catch (Heartbeat.MalformedException e) {
            return;
        }
        assertNotEquals("", h.nodeId());
        int macAt = datagram.length - HeartbeatKey.MAC_BYTES;
        byte[] again = h.toBytes();
        assertEquals(datagram.length, again.length);
        assertArrayEquals(Arrays.copyOf(datagram, macAt), Arrays.copyOf(again, macAt));
        // the guard: a datagram is accepted only if its MAC is the one under the key (a fuzzer cannot forge it)
        byte[] signed = h.toBytes(KEY);
        boolean forged = !Arrays.equals(datagram, signed);
        HeartbeatGuard guard = new HeartbeatGuard(KEY, h::sentAt);
        HeartbeatGuard.Verdict v = guard.check(h, datagram, datagram.length);
        if (forged) {
            assertEquals(HeartbeatGuard.Verdict.UNAUTHENTICATED, v);
        } else {
            assertEquals(HeartbeatGuard.Verdict.ACCEPTED, v);
            assertEquals(HeartbeatGuard.Verdict.REPLAYED, guard.check(h, datagram, datagram.length));
        }
    }
}
