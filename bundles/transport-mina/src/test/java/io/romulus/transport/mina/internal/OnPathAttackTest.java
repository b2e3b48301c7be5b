package io.romulus.transport.mina.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.RecordType;

/**
 * A stream through someone on the path who alters, injects, replays, reorders and drops records after an honest
 * handshake: nothing of it is accepted, the stream is torn down naming what happened, and the replica keeps the last
 * checkpoint that really arrived.
 */
class OnPathAttackTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 64;
    private static final byte[] FORGED = new byte[PAGE];

    static {
        Arrays.fill(FORGED, (byte) 0x66);
    }

    /** What the attacker does to the second checkpoint. */
    enum Tamper {
        FLIP_A_BODY_BIT(true, "failed authentication"),
        CHANGE_THE_HEADER_EPOCH(true, "failed authentication"),
        STRIP_THE_SEAL(true, "PAGE_BATCH record in clear after the handshake"),
        INJECT_PAGES(true, "PAGE_BATCH record in clear after the handshake"),
        INJECT_SEALED_LOOKING_PAGES(true, "failed authentication"),
        REPLAY_A_RECORD(true, "failed authentication"),
        REORDER_TWO_RECORDS(true, "failed authentication"),
        DROP_A_RECORD(true, "failed authentication"),
        INJECT_ACK(false, "failed authentication"),
        INJECT_CLEAR_ACK(false, "ACK record in clear after the handshake"),
        INJECT_TAKEN_OVER(false, "an ERROR in clear after the handshake (not authenticated, not obeyed): "
                + "vm runs here now");

        /** Whether the backup is the one that must catch it (else the primary). */
        final boolean backupCatches;
        final String reason;

        Tamper(boolean backupCatches, String reason) {
            this.backupCatches = backupCatches;
            this.reason = reason;
        }
    }

    @TempDir
    Path dir;

    /** The attack: honest for the first checkpoint, {@code tamper} on the second. */
    private static final class Attacker implements OnPathProxy.Attack {
        private final Tamper tamper;
        private byte[] firstBatchOfEpoch1;
        private byte[] held;
        private int epoch2Batches;
        final AtomicBoolean done = new AtomicBoolean();

        Attacker(Tamper tamper) {
            this.tamper = tamper;
        }

        @Override
        public void record(boolean toBackup, byte[] frame, OnPathProxy.Link out, OnPathProxy.Link back)
                throws IOException {
            boolean batch = toBackup && OnPathProxy.type(frame) == RecordType.PAGE_BATCH.code();
            if (batch && OnPathProxy.epoch(frame) == 1 && firstBatchOfEpoch1 == null) {
                firstBatchOfEpoch1 = frame.clone();
            }
            if (!batch || OnPathProxy.epoch(frame) != 2 || done.get()) {
                if (toBackup && OnPathProxy.type(frame) == RecordType.EPOCH_END.code() && OnPathProxy.epoch(frame) == 2
                        && tamper == Tamper.INJECT_ACK && done.compareAndSet(false, true)) {
                    // a sealed-looking ACK for the checkpoint, before the backup could have stored it
                    back.send(sealedLooking(RecordType.ACK, 2, new byte[0]));
                }
                if (toBackup && OnPathProxy.type(frame) == RecordType.EPOCH_END.code() && OnPathProxy.epoch(frame) == 2
                        && tamper == Tamper.INJECT_CLEAR_ACK && done.compareAndSet(false, true)) {
                    back.send(new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES).encode(Messages.ack(2)));
                }
                out.send(frame);
                return;
            }
            epoch2Batches++;
            switch (tamper) {
                case FLIP_A_BODY_BIT -> {
                    done.set(true); // first: what follows may find the connection closed
                    frame[RecordCodec.HEADER_BYTES + 100] ^= 0x01;
                    out.send(OnPathProxy.fixCrc(frame));
                }
                case CHANGE_THE_HEADER_EPOCH -> {
                    done.set(true); // first: what follows may find the connection closed
                    ByteBuffer.wrap(frame).putLong(8, 3);
                    out.send(OnPathProxy.fixCrc(frame));
                }
                case STRIP_THE_SEAL -> {
                    done.set(true); // first: what follows may find the connection closed
                    ByteBuffer.wrap(frame).putShort(2, (short) (OnPathProxy.flags(frame) & ~RecordCipher.SEALED));
                    out.send(OnPathProxy.fixCrc(frame));
                }
                case INJECT_PAGES -> {
                    done.set(true); // first: what follows may find the connection closed
                    out.send(new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES).encode(forgedBatch()));
                    out.send(frame);
                }
                case INJECT_SEALED_LOOKING_PAGES -> {
                    done.set(true); // first: what follows may find the connection closed
                    out.send(sealedLooking(RecordType.PAGE_BATCH, 2, forgedBatch().body()));
                    out.send(frame);
                }
                case REPLAY_A_RECORD -> {
                    done.set(true); // first: what follows may find the connection closed
                    out.send(firstBatchOfEpoch1);
                }
                case REORDER_TWO_RECORDS -> {
                    if (epoch2Batches == 1) {
                        held = frame;
                    } else {
                        done.set(true);
                        out.send(frame);
                        out.send(held);
                    }
                }
                case DROP_A_RECORD -> done.set(true);
                case INJECT_TAKEN_OVER -> {
                    done.set(true); // first: what follows may find the connection closed
                    back.send(new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES).encode(
                            Messages.error("vm runs here now", true)));
                    out.send(frame);
                }
                default -> out.send(frame);
            }
        }
    }

    /** A PAGE_BATCH of the attacker's own: page 0 full of 0x66, in clear. */
    private static Record forgedBatch() {
        PageBatchCodec.Encoder encoder = new PageBatchCodec.Encoder(PAGE, new DeltaCache(0, PAGE));
        return new Record(RecordType.PAGE_BATCH, 0, 2, encoder.encode(new long[] {0}, 0, 1, ByteBuffer.wrap(FORGED),
                new CRC32C()).body());
    }

    /** A record that claims to be sealed, with a made-up tag. */
    private static byte[] sealedLooking(RecordType type, long epoch, byte[] body) {
        byte[] tag = new byte[RecordCipher.TAG_BYTES];
        new Random(5).nextBytes(tag);
        byte[] sealed = Arrays.copyOf(body, body.length + tag.length);
        System.arraycopy(tag, 0, sealed, body.length, tag.length);
        byte[] frame = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES).encode(new Record(type, 0, epoch, sealed));
        ByteBuffer.wrap(frame).putShort(2, (short) RecordCipher.SEALED);
        return OnPathProxy.fixCrc(frame);
    }

    private static byte[][] epoch(Random random) {
        byte[][] pages = new byte[PAGES][PAGE];
        for (byte[] p : pages) {
            random.nextBytes(p);
        }
        return pages;
    }

    private static void send(CheckpointChannel channel, long epoch, byte[][] pages) throws Exception {
        long[] pfns = new long[PAGES];
        ByteBuffer buf = ByteBuffer.allocate(PAGES * PAGE);
        for (int i = 0; i < PAGES; i++) {
            pfns[i] = i;
            buf.put(pages[i]);
        }
        buf.flip();
        channel.sendPages(epoch, pfns, 0, PAGES, buf);
        channel.endEpoch(epoch, epoch == 1);
    }

    @ParameterizedTest
    @EnumSource(Tamper.class)
    void nothingTamperedIsAcceptedAndTheStreamEndsSayingWhy(Tamper tamper) throws Exception {
        Path secret = dir.resolve("stream.secret");
        Files.writeString(secret, Base64.getEncoder().encodeToString(SharedSecret.nonce()));
        // small records, so that the second checkpoint takes several PAGE_BATCH records
        TransportSettings base = TransportSettings.defaults().withSecretFile(secret).withMaxRecordBytes(16 * 1024)
                .withDeltaCacheBytes(0);
        Random random = new Random(tamper.name().hashCode());
        byte[][] first = epoch(random);
        byte[][] second = epoch(random);
        Attacker attacker = new Attacker(tamper);
        try (MinaCheckpointTransport backup = MinaCheckpointTransport.create(base.withListen("127.0.0.1", 0));
                MinaCheckpointTransport primary = MinaCheckpointTransport.create(base.withListen(null, 0));
                OnPathProxy proxy = new OnPathProxy(backup.listenAddress(), attacker)) {
            RecordingSink sink = new RecordingSink(PAGE);
            backup.setAcceptor(sink);
            TransportTest.Acks acks = new TransportTest.Acks();
            CheckpointChannel channel = primary.connect(proxy.address(),
                    new Hello("node-a", "sim:vm", "sim", (long) PAGES * PAGE, PAGE, Map.of()), acks);
            send(channel, 1, first);
            await().atMost(Duration.ofSeconds(5)).until(() -> acks.acked.contains(1L));
            try {
                send(channel, 2, second);
            } catch (CheckpointException e) {
                // the stream may already be down
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> !channel.isOpen() && acks.closedCalls.get() == 1);
            await().atMost(Duration.ofSeconds(5)).until(() -> sink.closed.getCount() == 0);
            assertTrue(attacker.done.get(), "the attack happened");

            Throwable caught = tamper.backupCatches ? sink.closedCause : acks.cause;
            assertNotNull(caught);
            assertTrue(caught.getMessage().contains(tamper.reason), caught.getMessage());
            assertFalse(acks.cause instanceof DomainTakenOverException, "the primary gave up its domain: "
                    + acks.cause);
            assertEquals(List.of(1L), acks.acked, "no ACK but the honest one reached the primary");
            for (byte[] seen : sink.pagesSeen) {
                assertFalse(Arrays.equals(FORGED, seen), "a forged page reached the replica's sink");
            }
            // the replica holds exactly one checkpoint that really arrived, never a mix or a forgery
            List<Long> ended = sink.ends.stream().map(EpochEnd::epoch).toList();
            byte[][] expected = ended.equals(List.of(1L)) ? first : second;
            if (tamper.backupCatches) {
                assertEquals(List.of(1L), ended, "the tampered checkpoint was never ended");
            } else {
                assertTrue(ended.equals(List.of(1L)) || ended.equals(List.of(1L, 2L)), ended.toString());
            }
            for (int i = 0; i < PAGES; i++) {
                assertArrayEquals(expected[i], sink.page(i), "page " + i);
            }
        }
    }
}
