package io.romulus.transport.mina.internal;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.RecordType;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

class RecordCodecTest {

    private final RecordCodec codec = new RecordCodec(64 * 1024);

    @Test
    void everyRecordTypeRoundTrips() throws Exception {
        for (RecordType type : RecordType.values()) {
            Record r = new Record(type, 3, 1234567890123L, ("body of " + type).getBytes(UTF_8));
            byte[] frame = codec.encode(r);
            assertEquals(r.frameLength(), frame.length);
            ByteBuffer in = ByteBuffer.wrap(frame);
            Record back = codec.decode(in);
            assertEquals(type, back.type());
            assertEquals(3, back.flags());
            assertEquals(1234567890123L, back.epoch());
            assertArrayEquals(r.body(), back.body());
            assertEquals(0, in.remaining());
        }
    }

    @Test
    void handOverRecordsCarryTheirStepTheEpochAndARefusalsReason() throws Exception {
        byte[] frame = codec.encode(Messages.handOver(Messages.HANDOVER_REFUSED, 77, "no room"));
        ByteBuffer b = ByteBuffer.wrap(frame);
        assertEquals(9, b.getShort(), "HANDOVER is type 9");
        assertEquals(Messages.HANDOVER_REFUSED, b.getShort());
        Record back = codec.decode(ByteBuffer.wrap(frame));
        assertEquals(RecordType.HANDOVER, back.type());
        assertEquals(77, back.epoch());
        assertEquals(Messages.HANDOVER_REFUSED, Messages.handOverStep(back));
        assertEquals("no room", Messages.parseError(back.body()));
        assertThrows(MalformedRecordException.class,
                () -> Messages.handOverStep(new Record(RecordType.HANDOVER, 5, 77, new byte[0])));
    }

    @Test
    void theHandOverGoRecordCarriesFramesWithTheirNicInOrder() throws Exception {
        List<InboundFrame> frames = List.of(new InboundFrame(0, bytes(60, 1)), new InboundFrame(2, bytes(1514, 2)));
        Record back = codec.decode(ByteBuffer.wrap(codec.encode(Messages.handOverGo(9, frames, 64 * 1024))));
        assertEquals(Messages.HANDOVER_GO, Messages.handOverStep(back));
        assertEquals(9, back.epoch());
        List<InboundFrame> got = Messages.parseHandOverFrames(back.body());
        assertEquals(2, got.size());
        assertEquals(0, got.get(0).nic());
        assertArrayEquals(bytes(60, 1), got.get(0).frame());
        assertEquals(2, got.get(1).nic());
        assertArrayEquals(bytes(1514, 2), got.get(1).frame());
        // a body that would not fit carries the frames that do, in order
        List<InboundFrame> fit = Messages.parseHandOverFrames(Messages.handOverGo(9, frames, 1000).body());
        assertEquals(1, fit.size());
        assertArrayEquals(bytes(60, 1), fit.get(0).frame());
    }

    @Test
    void aGoWithoutABodyCarriesNoFrames() throws Exception {
        Record go = Messages.handOver(Messages.HANDOVER_GO, 9, "");
        assertEquals(0, go.body().length, "what an earlier version sends");
        assertEquals(List.of(), Messages.parseHandOverFrames(go.body()));
        assertEquals(0, Messages.handOverGo(9, List.of(), 1024).body().length, "no frames: the earlier record");
    }

    @Test
    void aMalformedGoBodyIsRefused() {
        byte[] good = Messages.handOverGo(9, List.of(new InboundFrame(1, bytes(60, 3))), 64 * 1024).body();
        List<byte[]> bad = new java.util.ArrayList<>();
        bad.add(new byte[] {0, 0}); // a truncated count
        bad.add(java.util.Arrays.copyOf(good, good.length - 1)); // a truncated frame
        bad.add(java.util.Arrays.copyOf(good, good.length + 1)); // a trailing byte
        byte[] huge = good.clone();
        huge[3] = 2; // two frames announced, one there
        bad.add(huge);
        byte[] count = good.clone();
        count[0] = (byte) 0x80; // a count that is negative as a signed int
        bad.add(count);
        byte[] empty = good.clone();
        empty[6] = 0;
        empty[7] = 0;
        empty[8] = 0;
        empty[9] = 0; // an empty frame
        bad.add(empty);
        byte[] longer = good.clone();
        longer[6] = 0x7f; // a frame longer than the body
        bad.add(longer);
        for (byte[] b : bad) {
            assertThrows(MalformedRecordException.class, () -> Messages.parseHandOverFrames(b));
        }
    }

    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    @Test
    void frameLayoutIsBigEndianWithCrcOverHeaderAndBody() {
        byte[] frame = codec.encode(new Record(RecordType.ACK, 0x0102, 0x0A0B0C0D0E0F1011L, new byte[] {42}));
        ByteBuffer b = ByteBuffer.wrap(frame);
        assertEquals(6, b.getShort());
        assertEquals(0x0102, b.getShort());
        assertEquals(1, b.getInt());
        assertEquals(0x0A0B0C0D0E0F1011L, b.getLong());
        assertEquals(42, b.get());
        CRC32C crc = new CRC32C();
        crc.update(frame, 0, frame.length - 4);
        assertEquals((int) crc.getValue(), b.getInt());
    }

    @Test
    void incompleteInputWaitsForMore() throws Exception {
        byte[] frame = codec.encode(new Record(RecordType.GOODBYE, 0, 0, new byte[100]));
        for (int n : new int[] {0, 5, 16, frame.length - 1}) {
            ByteBuffer in = ByteBuffer.wrap(frame, 0, n);
            assertNull(codec.decode(in));
            assertEquals(0, in.position());
        }
    }

    @Test
    void badCrcIsRefused() {
        byte[] frame = codec.encode(new Record(RecordType.DEVICE_STATE, 0, 7, new byte[] {1, 2, 3}));
        frame[17] ^= 1;
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> codec.decode(ByteBuffer.wrap(frame)));
        assertTrue(e.getMessage().contains("CRC32C mismatch"), e.getMessage());
    }

    @Test
    void unknownTypeIsRefused() {
        byte[] frame = codec.encode(new Record(RecordType.ACK, 0, 1, new byte[0]));
        frame[1] = 99;
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> codec.decode(ByteBuffer.wrap(frame)));
        assertTrue(e.getMessage().contains("unknown record type 99"), e.getMessage());
    }

    @Test
    void lengthOverMaximumIsRefusedFromTheHeaderAlone() {
        ByteBuffer header = ByteBuffer.allocate(16).putShort((short) 2).putShort((short) 0).putInt(-1).putLong(1);
        header.flip();
        MalformedRecordException e = assertThrows(MalformedRecordException.class, () -> codec.decode(header));
        assertTrue(e.getMessage().contains("exceeds max.record.bytes=65536"), e.getMessage());
    }

    @Test
    void helloExchangeBodiesRoundTrip() throws Exception {
        Hello hello = new Hello("node-a", "qemu:web", "qemu", 1L << 30, 4096, Map.of("accel", "tcg"));
        byte[] nonce = SharedSecret.nonce();
        Record r = Messages.clientHello(new Messages.ClientHello(1, hello, 5L << 20, nonce,
                StreamProtection.INTEGRITY));
        Messages.ClientHello back = Messages.parseClientHello(r.body());
        assertEquals(hello, back.hello());
        assertEquals(5L << 20, back.deltaCacheBytes());
        assertArrayEquals(nonce, back.nonce());
        assertEquals(1, Messages.peekVersion(r.body()));
        assertEquals(StreamProtection.INTEGRITY, back.protection());

        Messages.Challenge c = Messages.parseChallenge(Messages.challenge(
                new Messages.Challenge(1, "node-b", nonce, new byte[] {9, 9}, StreamProtection.ENCRYPTED)).body());
        assertEquals("node-b", c.nodeId());
        assertArrayEquals(new byte[] {9, 9}, c.proof());
        assertEquals(StreamProtection.ENCRYPTED, c.protection());

        Messages.Welcome w = Messages.parseWelcome(Messages.welcome(
                new Messages.Welcome(new HelloReply("node-b", 41), 4096)).body());
        assertEquals(new HelloReply("node-b", 41), w.reply());
        byte[] plain = Messages.welcome(new Messages.Welcome(new HelloReply("node-b", 41), 4096)).body();
        byte[] resumed = Messages.welcome(new Messages.Welcome(new HelloReply("node-b", 41, 41), 4096)).body();
        assertEquals(plain.length + 8, resumed.length, "only a resumed stream's welcome carries the extra field");
        assertEquals(new HelloReply("node-b", 41, 41), Messages.parseWelcome(resumed).reply());
        assertEquals(41, Messages.parseWelcome(resumed).reply().resumedFrom());
        assertEquals(-1, Messages.parseWelcome(plain).reply().resumedFrom());

        EpochEnd end = new EpochEnd(12, 300, 4000, 0, 0xCAFEBABE, true);
        assertEquals(end, Messages.parseEpochEnd(12, Messages.epochEnd(end).body()));
        assertEquals("boom", Messages.parseError(Messages.error("boom").body()));
    }

    @Test
    void truncatedBodiesAreRefused() {
        Record r = Messages.epochEnd(new EpochEnd(1, 1, 1, 0, 1, false));
        byte[] cut = java.util.Arrays.copyOf(r.body(), r.body().length - 2);
        assertThrows(MalformedRecordException.class, () -> Messages.parseEpochEnd(1, cut));
        assertThrows(MalformedRecordException.class, () -> Messages.parseClientHello(new byte[] {0, 1, 0}));
    }
}
