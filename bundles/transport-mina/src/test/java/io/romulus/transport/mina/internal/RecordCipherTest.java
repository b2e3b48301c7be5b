package io.romulus.transport.mina.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.romulus.api.transport.Hello;
import io.romulus.api.transport.RecordType;

class RecordCipherTest {

    private final RecordCodec codec = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES);
    private final byte[] key = SharedSecret.nonce();

    private static Record page(long epoch, String text) {
        return new Record(RecordType.PAGE_BATCH, 0, epoch, text.getBytes(StandardCharsets.US_ASCII));
    }

    private Record open(RecordCipher opener, byte[] frame) throws MalformedRecordException {
        return codec.decode(ByteBuffer.wrap(frame), codec.maxRecordBytes(), opener);
    }

    @ParameterizedTest
    @EnumSource(value = StreamProtection.class, names = {"INTEGRITY", "ENCRYPTED"})
    void recordsOpenInOrderAndNothingElseOpens(StreamProtection protection) throws Exception {
        RecordCipher sealer = new RecordCipher(protection, key, true);
        RecordCipher opener = new RecordCipher(protection, key, false);
        byte[] first = codec.encode(page(1, "guest memory of epoch one"), sealer);
        byte[] second = codec.encode(page(1, "more guest memory"), sealer);
        String wire = new String(first, StandardCharsets.US_ASCII);
        assertEquals(protection == StreamProtection.INTEGRITY, wire.contains("guest memory of epoch one"),
                "the body is in clear only without encryption");
        assertEquals(RecordCipher.SEALED, ByteBuffer.wrap(first).getShort(2) & 0xffff);

        Record r = open(opener, first);
        assertEquals(page(1, "x").type(), r.type());
        assertEquals(0, r.flags(), "the seal flag is not handed up");
        assertArrayEquals("guest memory of epoch one".getBytes(StandardCharsets.US_ASCII), r.body());
        // the first record again (a replay) does not open where the second is expected
        MalformedRecordException replay = assertThrows(MalformedRecordException.class, () -> open(opener, first));
        assertTrue(replay.getMessage().contains("failed authentication"), replay.getMessage());

        // a fresh pair: the second record before the first (reordered, or the first dropped) does not open either
        RecordCipher opener2 = new RecordCipher(protection, key, false);
        assertThrows(MalformedRecordException.class, () -> open(opener2, second));
        // nor under another key
        RecordCipher stranger = new RecordCipher(protection, SharedSecret.nonce(), false);
        assertThrows(MalformedRecordException.class, () -> open(stranger, first));
        // and a record in clear is refused once the keys are in place
        MalformedRecordException clear = assertThrows(MalformedRecordException.class,
                () -> open(new RecordCipher(protection, key, false), codec.encode(page(1, "forged"))));
        assertTrue(clear.getMessage().contains("PAGE_BATCH record in clear after the handshake"), clear.getMessage());
    }

    @ParameterizedTest
    @EnumSource(value = StreamProtection.class, names = {"INTEGRITY", "ENCRYPTED"})
    void aLongRecordIsSealedInSegmentsThatCannotBeMovedOrCut(StreamProtection protection) throws Exception {
        byte[] body = new byte[3 * RecordCipher.SEGMENT_BYTES + 1000];
        new java.util.Random(3).nextBytes(body);
        Record record = new Record(RecordType.PAGE_BATCH, 0, 4, body);
        byte[] frame = codec.encode(record, new RecordCipher(protection, key, true));
        assertEquals(RecordCodec.HEADER_BYTES + body.length + 4 * RecordCipher.TAG_BYTES + RecordCodec.TRAILER_BYTES,
                frame.length, "four segments, four tags");
        assertArrayEquals(body, open(new RecordCipher(protection, key, false), frame).body());
        assertArrayEquals(new byte[0], open(new RecordCipher(protection, key, false), codec.encode(
                new Record(RecordType.ACK, 0, 1, new byte[0]), new RecordCipher(protection, key, true))).body());

        // the first two segments swapped
        int seg = RecordCipher.SEGMENT_BYTES + RecordCipher.TAG_BYTES;
        byte[] swapped = frame.clone();
        System.arraycopy(frame, RecordCodec.HEADER_BYTES, swapped, RecordCodec.HEADER_BYTES + seg, seg);
        System.arraycopy(frame, RecordCodec.HEADER_BYTES + seg, swapped, RecordCodec.HEADER_BYTES, seg);
        assertThrows(MalformedRecordException.class, () -> open(new RecordCipher(protection, key, false),
                OnPathProxy.fixCrc(swapped)));
        // the last segment cut off, the length made to match
        byte[] cut = Arrays.copyOf(frame, frame.length - 1000 - RecordCipher.TAG_BYTES);
        ByteBuffer.wrap(cut).putInt(4, cut.length - RecordCodec.HEADER_BYTES - RecordCodec.TRAILER_BYTES);
        assertThrows(MalformedRecordException.class, () -> open(new RecordCipher(protection, key, false),
                OnPathProxy.fixCrc(cut)));
    }

    @Test
    void everyAlteredByteIsCaught() throws Exception {
        byte[] frame = codec.encode(page(7, "0123456789abcdef0123456789"), new RecordCipher(StreamProtection.ENCRYPTED,
                key, true));
        for (int i = 0; i < frame.length - RecordCodec.TRAILER_BYTES; i++) {
            if (i == 2 || (i >= 4 && i < 8) || i < 2) {
                continue; // the flags' seal bit, the length and the type are caught earlier, by other checks
            }
            byte[] altered = frame.clone();
            altered[i] ^= 0x01;
            OnPathProxy.fixCrc(altered);
            RecordCipher opener = new RecordCipher(StreamProtection.ENCRYPTED, key, false);
            assertThrows(MalformedRecordException.class, () -> open(opener, altered), "byte " + i);
        }
    }

    @Test
    void bothEndsMoveToTheNextKeyAtTheSameRecord() throws Exception {
        RecordCipher sealer = new RecordCipher(StreamProtection.ENCRYPTED, key, true, 100);
        RecordCipher opener = new RecordCipher(StreamProtection.ENCRYPTED, key, false, 100);
        RecordCipher neverRekeys = new RecordCipher(StreamProtection.ENCRYPTED, key, false);
        String sixty = "x".repeat(60);
        for (int i = 0; i < 10; i++) {
            byte[] frame = codec.encode(page(1, sixty), sealer);
            assertEquals(sixty, new String(open(opener, frame).body(), StandardCharsets.US_ASCII));
            if (i < 2) {
                open(neverRekeys, frame); // 60 and 120 bytes: still the first key
            } else {
                assertThrows(MalformedRecordException.class, () -> open(neverRekeys, frame), "record " + i);
            }
        }
    }

    @Test
    void keysDependOnSecretNoncesHandshakeAndDirection() {
        SharedSecret secret = SharedSecret.of(SharedSecret.nonce());
        byte[] a = SharedSecret.nonce();
        byte[] b = SharedSecret.nonce();
        Record hello = Messages.clientHello(new Messages.ClientHello(Messages.PROTOCOL_VERSION,
                new Hello("n", "sim:vm", "sim", 1 << 20, 4096, Map.of()), 0, a, StreamProtection.ENCRYPTED));
        byte[] challenge = {1, 2, 3};
        StreamKeys k = StreamKeys.derive(secret, hello.body(), challenge, a, b, StreamProtection.ENCRYPTED);
        assertEquals(StreamKeys.KEY_BYTES, k.primaryToBackup().length);
        assertFalse(Arrays.equals(k.primaryToBackup(), k.backupToPrimary()));
        assertArrayEquals(k.primaryToBackup(), StreamKeys.derive(secret, hello.body(), challenge, a, b,
                StreamProtection.ENCRYPTED).primaryToBackup());
        byte[] tampered = hello.body().clone();
        tampered[tampered.length - 1] = (byte) StreamProtection.INTEGRITY.code();
        for (StreamKeys other : new StreamKeys[] {
            StreamKeys.derive(SharedSecret.of(SharedSecret.nonce()), hello.body(), challenge, a, b,
                    StreamProtection.ENCRYPTED),
            StreamKeys.derive(secret, hello.body(), challenge, b, a, StreamProtection.ENCRYPTED),
            StreamKeys.derive(secret, tampered, challenge, a, b, StreamProtection.ENCRYPTED),
            StreamKeys.derive(secret, hello.body(), new byte[] {1, 2, 4}, a, b, StreamProtection.ENCRYPTED),
            StreamKeys.derive(secret, hello.body(), challenge, a, b, StreamProtection.INTEGRITY)}) {
            assertNotEquals(Arrays.toString(k.primaryToBackup()), Arrays.toString(other.primaryToBackup()));
        }
    }
}
