package io.romulus.transport.mina.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;

/**
 * Fuzzes every parser of what a stream peer sends: the record framing before and after the handshake
 * ({@link RecordCodec}), PAGE_BATCH bodies ({@link PageBatchCodec}), DISK_WRITES bodies ({@link DiskWriteCodec}) and
 * the bodies of HELLO's steps, EPOCH_END and ERROR ({@link Messages}). The first byte of an input picks the parser
 * (one fuzz test per JVM is all jazzer-junit fuzzes, so one test covers them all), the rest is what the peer sent.
 *
 * <p>For every input: nothing is thrown but {@link MalformedRecordException}; nothing is allocated beyond what the
 * limits allow (a record's body is at most the limit of the connection's phase, a batch decodes to at most
 * a record's worth of pages whatever the page size, a DISK_WRITES to at most {@link DiskWriteCodec#MAX_DECODED_BYTES});
 * and what parses, encodes back to the same thing. The seeds (.../StreamFuzzTestInputs/input/) are records and bodies
 * the encoders of this module wrote ({@link StreamSeeds}, which says how to write them again). Run by execution
 * {@code fuzz} of the parent pom (docs/developing.md).
 */
class StreamFuzzTest {

    static final int PAGE_SIZE = 4096;
    static final int HUGE_PAGE = 2 << 20;
    static final int MAX_RECORD_BYTES = 64 * 1024;
    static final int HANDSHAKE_LIMIT = 4096;
    static final byte[] KEY = new byte[StreamKeys.KEY_BYTES];
    static final int FRAMES = 0;
    static final int SEALED_FRAMES = 1;
    static final int PAGE_BATCH = 2;
    static final int DISK_WRITES = 3;
    static final int HELLO = 4;

    private static final RecordCodec CODEC = new RecordCodec(MAX_RECORD_BYTES);
    private static final DiskWriteCodec.Encoder DISK_ENCODER = new DiskWriteCodec.Encoder(MAX_RECORD_BYTES);
    /** The longest piece {@link #DISK_ENCODER} puts in one write (its records are {@link #MAX_RECORD_BYTES}). */
    private static final int DISK_MAX_WRITE = Math.min(DiskWriteCodec.MAX_WRITE_BYTES,
            MAX_RECORD_BYTES - DiskWriteCodec.RECORD_HEADER_BYTES - DiskWriteCodec.WRITE_HEADER_BYTES);

    @FuzzTest
    void input(byte[] input) throws Exception {
        if (input.length == 0) {
            return;
        }
        byte[] rest = Arrays.copyOfRange(input, 1, input.length);
        switch (Byte.toUnsignedInt(input[0]) % 5) {
            case FRAMES -> frames(rest, null);
            case SEALED_FRAMES -> frames(rest, new RecordCipher(StreamProtection.ENCRYPTED, KEY, false));
            case PAGE_BATCH -> pageBatch(rest);
            case DISK_WRITES -> diskWrites(rest);
            default -> hello(rest);
        }
    }

    /** Records as they arrive: before the handshake (no opener) in clear, after it sealed. */
    private static void frames(byte[] bytes, RecordCipher opener) {
        int limit = opener == null ? HANDSHAKE_LIMIT : MAX_RECORD_BYTES;
        ByteBuffer in = ByteBuffer.wrap(bytes);
        while (true) {
            int before = in.position();
            Record r;
            try {
                r = CODEC.decode(in, limit, opener);
            } catch (MalformedRecordException e) {
                return;
            }
            if (r == null) {
                assertEquals(before, in.position(), "an incomplete record moves nothing");
                return;
            }
            assertTrue(r.body().length <= limit, r + " exceeds " + limit);
            if (opener == null) {
                assertArrayEquals(Arrays.copyOfRange(bytes, before, in.position()), CODEC.encode(r));
            } else {
                assertEquals((long) in.position() - before, RecordCodec.HEADER_BYTES + RecordCodec.TRAILER_BYTES
                        + RecordCipher.sealedLength(r.body().length));
            }
        }
    }

    private static void pageBatch(byte[] body) throws MalformedRecordException {
        // the same body in pages of 2 MiB (ZERO pages cost 13 bytes each): never more than a record's worth
        try {
            PageBatchCodec.Decoded huge = new PageBatchCodec.Decoder(HUGE_PAGE, new DeltaCache(0, HUGE_PAGE),
                    MAX_RECORD_BYTES).decode(body, new CRC32C());
            assertTrue(huge.pages().remaining() <= Math.max(MAX_RECORD_BYTES, HUGE_PAGE));
        } catch (MalformedRecordException e) {
            // refused
        }
        PageBatchCodec.Decoded d;
        CRC32C checksum = new CRC32C();
        try {
            d = new PageBatchCodec.Decoder(PAGE_SIZE, new DeltaCache(16L * PAGE_SIZE, PAGE_SIZE), MAX_RECORD_BYTES)
                    .decode(body, checksum);
        } catch (MalformedRecordException e) {
            return;
        }
        int n = d.pfns().length;
        assertTrue(n <= PageBatchCodec.MAX_PAGES_PER_BATCH, n + " pages");
        assertEquals((long) n * PAGE_SIZE, d.pages().remaining());
        CRC32C recomputed = new CRC32C();
        for (int i = 0; i < n; i++) {
            PageBatchCodec.checksumPage(recomputed, d.pfns()[i], d.pages().duplicate().position(i * PAGE_SIZE),
                    PAGE_SIZE);
        }
        assertEquals(recomputed.getValue(), checksum.getValue());
        // round trip: the decoded pages, encoded by a sender, decode to themselves
        CRC32C sent = new CRC32C();
        PageBatchCodec.Encoded e = new PageBatchCodec.Encoder(PAGE_SIZE, new DeltaCache(16L * PAGE_SIZE, PAGE_SIZE))
                .encode(d.pfns(), 0, n, d.pages(), sent);
        CRC32C received = new CRC32C();
        PageBatchCodec.Decoded again = new PageBatchCodec.Decoder(PAGE_SIZE,
                new DeltaCache(16L * PAGE_SIZE, PAGE_SIZE), MAX_RECORD_BYTES).decode(e.body(), received);
        assertArrayEquals(d.pfns(), again.pfns());
        assertEquals(d.pages(), again.pages());
        assertEquals(sent.getValue(), received.getValue());
        assertEquals(checksum.getValue(), received.getValue());
    }

    private static void diskWrites(byte[] body) throws Exception {
        DiskWriteCodec.Decoded d;
        CRC32C checksum = new CRC32C();
        try {
            d = new DiskWriteCodec.Decoder().decode(body, checksum);
        } catch (MalformedRecordException e) {
            return;
        }
        long total = 0;
        for (DiskWrite w : d.writes()) {
            assertTrue(w.offset() >= 0 && w.data().length > 0 && w.data().length <= DiskWriteCodec.MAX_WRITE_BYTES);
            total += w.data().length;
        }
        assertTrue(total <= DiskWriteCodec.MAX_DECODED_BYTES, total + " bytes decoded");
        // round trip through the sender's encoder (which may split them over several bodies)
        List<DiskWrite> received = new ArrayList<>();
        CRC32C sent = new CRC32C();
        CRC32C decoded = new CRC32C();
        DISK_ENCODER.encode(d.disk(), d.writes(), sent, (b, writes, raw) -> {
            DiskWriteCodec.Decoded part = new DiskWriteCodec.Decoder().decode(b, decoded);
            assertEquals(d.disk(), part.disk());
            received.addAll(part.writes());
        });
        assertEquals(sent.getValue(), decoded.getValue());
        // the encoder cuts a write longer than its record allows into pieces, each in the checksum on its own (the
        // receiver sums what it receives, so both sides agree); the decoded writes, cut the same way, are what arrives
        List<DiskWrite> pieces = new ArrayList<>();
        CRC32C piecesChecksum = new CRC32C();
        for (DiskWrite w : d.writes()) {
            for (int done = 0; done < w.data().length; done += DISK_MAX_WRITE) {
                int n = Math.min(DISK_MAX_WRITE, w.data().length - done);
                pieces.add(new DiskWrite(w.offset() + done, java.util.Arrays.copyOfRange(w.data(), done, done + n)));
                DiskWriteCodec.checksumWrite(piecesChecksum, d.disk(), w.offset() + done, w.data(), done, n);
            }
        }
        assertEquals(piecesChecksum.getValue(), decoded.getValue());
        if (pieces.size() == d.writes().size()) {
            assertEquals(checksum.getValue(), decoded.getValue(), "nothing was cut: the same checksum");
        }
        assertEquals(pieces.size(), received.size());
        for (int i = 0; i < received.size(); i++) {
            assertEquals(pieces.get(i).offset(), received.get(i).offset());
            assertArrayEquals(pieces.get(i).data(), received.get(i).data());
        }
    }

    /** The same bytes as each step of the handshake, an EPOCH_END and an ERROR. */
    private static void hello(byte[] body) throws MalformedRecordException {
        try {
            Messages.ClientHello m = Messages.parseClientHello(body);
            Messages.ClientHello again = Messages.parseClientHello(Messages.clientHello(m).body());
            Hello h = m.hello();
            assertEquals(h, again.hello());
            assertEquals(m.version(), again.version());
            assertEquals(m.deltaCacheBytes(), again.deltaCacheBytes());
            assertArrayEquals(m.nonce(), again.nonce());
            assertEquals(m.protection(), again.protection());
            assertEquals(Messages.NONCE_BYTES, m.nonce().length);
            assertEquals(m.version(), Messages.peekVersion(body));
        } catch (MalformedRecordException e) {
            // refused
        }
        try {
            Messages.Challenge m = Messages.parseChallenge(body);
            Messages.Challenge again = Messages.parseChallenge(Messages.challenge(m).body());
            assertEquals(m.version(), again.version());
            assertEquals(m.nodeId(), again.nodeId());
            assertArrayEquals(m.nonce(), again.nonce());
            assertArrayEquals(m.proof(), again.proof());
            assertEquals(m.protection(), again.protection());
        } catch (MalformedRecordException e) {
            // refused
        }
        try {
            byte[] proof = Messages.parseProof(body);
            assertArrayEquals(body, Messages.proof(proof).body());
        } catch (MalformedRecordException e) {
            // refused
        }
        try {
            Messages.Welcome m = Messages.parseWelcome(body);
            Messages.Welcome again = Messages.parseWelcome(Messages.welcome(m).body());
            assertEquals(m.reply().nodeId(), again.reply().nodeId());
            assertEquals(m.reply().committedEpoch(), again.reply().committedEpoch());
            assertEquals(m.reply().resumed(), again.reply().resumed());
            if (m.reply().resumed()) {
                assertEquals(m.reply().resumedFrom(), again.reply().resumedFrom());
            }
            assertEquals(m.deltaCacheBytes(), again.deltaCacheBytes());
        } catch (MalformedRecordException e) {
            // refused
        }
        try {
            EpochEnd end = Messages.parseEpochEnd(7, body);
            assertEquals(end, Messages.parseEpochEnd(7, Messages.epochEnd(end).body()));
        } catch (MalformedRecordException e) {
            // refused
        }
        assertEquals(body.length == 0, Messages.parseError(body).isEmpty());
    }
}
