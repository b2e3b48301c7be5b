package io.romulus.detector.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;

import org.junit.jupiter.api.Test;

class HeartbeatTest {

    @Test
    void goldenBytes() {
        byte[] bytes = new Heartbeat("ab", 0x0102030405060708L, 0x1122334455667788L).toBytes();
        assertEquals("524d4842" + "02" + "02" + "6162" + "0102030405060708" + "1122334455667788"
                + "00000000000000000000000000000000", HexFormat.of().formatHex(bytes));
    }

    @Test
    void roundTrip() throws Exception {
        Heartbeat h = new Heartbeat("nœud-β", 42, 1_700_000_000_000L);
        assertEquals(h, Heartbeat.decode(ByteBuffer.wrap(h.toBytes())));
        Heartbeat longest = new Heartbeat("n".repeat(255), Long.MAX_VALUE, -1);
        byte[] bytes = longest.toBytes();
        assertEquals(Heartbeat.MAX_BYTES, bytes.length);
        assertEquals(longest, Heartbeat.decode(ByteBuffer.wrap(bytes)));
    }

    @Test
    void rejectsWhatIsNotAHeartbeat() {
        byte[] good = new Heartbeat("node-b", 7, 8).toBytes();
        assertMalformed(new byte[0], "truncated");
        assertMalformed(new byte[] {1, 2, 3}, "truncated");
        assertMalformed("GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII), "magic");
        byte[] version = good.clone();
        version[4] = 1;
        assertMalformed(version, "version 1");
        byte[] noId = good.clone();
        noId[5] = 0;
        assertMalformed(noId, "without a node id");
        byte[] shortId = good.clone();
        shortId[5] = 5;
        assertMalformed(shortId, "expected");
        byte[] longer = Arrays.copyOf(good, good.length + 1);
        assertMalformed(longer, "expected");
        assertMalformed(Arrays.copyOf(good, good.length - 1), "expected");
        byte[] notUtf8 = good.clone();
        notUtf8[6] = (byte) 0xff;
        assertMalformed(notUtf8, "UTF-8");
        assertArrayEquals(good, new Heartbeat("node-b", 7, 8).toBytes());
    }

    @Test
    void theMacCoversEveryByteBeforeIt() throws Exception {
        HeartbeatKey key = HeartbeatKey.of("0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII));
        byte[] signed = new Heartbeat("ab", 0x0102030405060708L, 0x1122334455667788L).toBytes(key);
        assertEquals(2 + 22 + HeartbeatKey.MAC_BYTES, signed.length);
        assertEquals(new Heartbeat("ab", 0x0102030405060708L, 0x1122334455667788L),
                Heartbeat.decode(ByteBuffer.wrap(signed)));
        assertTrue(key.verify(signed, signed.length));
        for (int i = 0; i < signed.length; i++) {
            byte[] flipped = signed.clone();
            flipped[i] ^= 0x01;
            assertFalse(key.verify(flipped, flipped.length), "byte " + i + " flipped");
        }
        byte[] unsigned = new Heartbeat("ab", 0x0102030405060708L, 0x1122334455667788L).toBytes();
        assertFalse(key.verify(unsigned, unsigned.length));
        HeartbeatKey other = HeartbeatKey.of("another secret of 32 bytes......".getBytes(StandardCharsets.US_ASCII));
        assertFalse(other.verify(signed, signed.length));
        assertFalse(key.verify(signed, HeartbeatKey.MAC_BYTES - 1));
    }

    private static void assertMalformed(byte[] datagram, String why) {
        Heartbeat.MalformedException e = assertThrows(Heartbeat.MalformedException.class,
                () -> Heartbeat.decode(ByteBuffer.wrap(datagram)));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }
}
