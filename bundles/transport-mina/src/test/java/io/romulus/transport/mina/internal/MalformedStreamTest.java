package io.romulus.transport.mina.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.RecordType;

/** Every kind of bad input drops the connection with its reason and never completes the epoch it hit. */
class MalformedStreamTest {

    private static final int PAGE = RawPeer.PAGE;

    enum Corruption {
        BAD_CRC("CRC32C mismatch"),
        UNKNOWN_TYPE("unknown record type 99"),
        LENGTH_OVER_MAX("exceeds max.record.bytes=1048576"),
        TRUNCATED_RECORD(null),
        UNKNOWN_PAGE_ENCODING("unknown page encoding 9"),
        PFN_COUNT_INCONSISTENT_WITH_LENGTH("PAGE_BATCH says 3 pages"),
        EPOCH_END_CHECKSUM_MISMATCH("EPOCH_END of epoch 2 does not match"),
        EPOCH_END_COUNT_MISMATCH("it says 5 pages"),
        DISK_WRITES_MALFORMED("DISK_WRITES says 3 writes"),
        DISK_WRITES_CHECKSUM_MISMATCH("EPOCH_END of epoch 2 does not match"),
        DISK_WRITE_COUNT_MISMATCH("it says 1 pages, 0 device state bytes, 0 disk writes"),
        PAGES_AFTER_THEIR_EPOCH_ENDED("PAGE_BATCH for epoch 1 arrived after that epoch ended"),
        ACK_FROM_PRIMARY("unexpected ACK"),
        RECORDS_BEFORE_HELLO("expected HELLO as the first record");

        final String reason;

        Corruption(String reason) {
            this.reason = reason;
        }
    }

    private MinaCheckpointTransport backup;
    private RecordingSink sink;
    private final Random random = new Random(3);

    @BeforeEach
    void start() throws Exception {
        backup = MinaCheckpointTransport.create(TransportSettings.defaults().withListen("127.0.0.1", 0)
                .withMaxRecordBytes(1 << 20));
        sink = new RecordingSink(PAGE);
        backup.setAcceptor(sink);
    }

    @AfterEach
    void stop() {
        backup.close();
    }

    private byte[] page(int fill) {
        byte[] p = new byte[PAGE];
        random.nextBytes(p);
        p[0] = (byte) fill;
        return p;
    }

    private static void sendDisk(RawPeer raw, DiskWriteCodec.Encoder encoder, long epoch, DiskWrite write,
            CRC32C crc) throws Exception {
        List<byte[]> bodies = new ArrayList<>();
        encoder.encode(0, List.of(write), crc, (body, n, rawBytes) -> bodies.add(body));
        for (byte[] body : bodies) {
            raw.send(new Record(RecordType.DISK_WRITES, 0, epoch, body));
        }
    }

    @ParameterizedTest
    @EnumSource(Corruption.class)
    void droppedWithReasonAndTheEpochIsNeverEnded(Corruption corruption) throws Exception {
        try (RawPeer raw = new RawPeer(backup.listenAddress())) {
            if (corruption == Corruption.RECORDS_BEFORE_HELLO) {
                raw.send(new Record(RecordType.PAGE_BATCH, 0, 1, new byte[] {0, 0, 0, 0}));
                String error = raw.readErrorThenEof();
                assertTrue(error.contains(corruption.reason), error);
                await().until(() -> backup.stats().rejectedConnections() == 1);
                assertEquals(0, sink.accepted.get(), "no sink for an unauthenticated peer");
                return;
            }
            Messages.Welcome welcome = raw.handshake(null, 1 << 20);
            DeltaCache cache = new DeltaCache(welcome.deltaCacheBytes(), PAGE);
            PageBatchCodec.Encoder encoder = new PageBatchCodec.Encoder(PAGE, cache);

            DiskWriteCodec.Encoder disks = new DiskWriteCodec.Encoder(1 << 20);

            // epoch 1, valid: a page and a disk write
            byte[] epoch1 = page(1);
            CRC32C crc = new CRC32C();
            raw.send(new Record(RecordType.PAGE_BATCH, 0, 1,
                    encoder.encode(new long[] {0}, 0, 1, ByteBuffer.wrap(epoch1), crc).body()));
            sendDisk(raw, disks, 1, new DiskWrite(512, page(4)), crc);
            raw.send(Messages.epochEnd(new EpochEnd(1, 1, 0, 1, (int) crc.getValue(), false)));
            Record ack = raw.read();
            assertEquals(RecordType.ACK, ack.type());
            assertEquals(1, ack.epoch());

            // epoch 2 starts fine
            crc = new CRC32C();
            byte[] epoch2 = page(2);
            raw.send(new Record(RecordType.PAGE_BATCH, 0, 2,
                    encoder.encode(new long[] {0}, 0, 1, ByteBuffer.wrap(epoch2), crc).body()));
            await().until(() -> sink.pageEpochs.size() == 2);

            byte[] batch = encoder.encode(new long[] {1}, 0, 1, ByteBuffer.wrap(page(3)), new CRC32C()).body();
            switch (corruption) {
                case BAD_CRC -> {
                    byte[] frame = raw.frame(new Record(RecordType.PAGE_BATCH, 0, 2, batch));
                    frame[40] ^= 0x10;
                    raw.sendBytes(frame);
                }
                case UNKNOWN_TYPE -> {
                    byte[] frame = raw.frame(new Record(RecordType.DEVICE_STATE, 0, 2, new byte[8]));
                    frame[1] = 99;
                    raw.sendBytes(frame);
                }
                case LENGTH_OVER_MAX -> raw.sendBytes(ByteBuffer.allocate(16).putShort((short) 2)
                        .putShort((short) 0).putInt(Integer.MAX_VALUE).putLong(2).array());
                case TRUNCATED_RECORD -> {
                    byte[] frame = raw.frame(new Record(RecordType.PAGE_BATCH, 0, 2, batch));
                    raw.sendBytes(Arrays.copyOf(frame, frame.length / 2));
                    raw.shutdownOutput();
                }
                case UNKNOWN_PAGE_ENCODING -> raw.send(new Record(RecordType.PAGE_BATCH, 0, 2,
                        ByteBuffer.allocate(17).putInt(1).putLong(9).put((byte) 9).putInt(0).array()));
                case PFN_COUNT_INCONSISTENT_WITH_LENGTH -> {
                    ByteBuffer.wrap(batch).putInt(3);
                    raw.send(new Record(RecordType.PAGE_BATCH, 0, 2, batch));
                }
                case EPOCH_END_CHECKSUM_MISMATCH -> raw.send(Messages.epochEnd(
                        new EpochEnd(2, 1, 0, 0, (int) crc.getValue() ^ 1, false)));
                case EPOCH_END_COUNT_MISMATCH -> raw.send(Messages.epochEnd(
                        new EpochEnd(2, 5, 0, 0, (int) crc.getValue(), false)));
                case DISK_WRITES_MALFORMED -> raw.send(new Record(RecordType.DISK_WRITES, 0, 2,
                        ByteBuffer.allocate(8 + 17).putInt(0).putInt(3).putLong(0).putInt(1).put((byte) 1).putInt(0)
                                .array()));
                case DISK_WRITES_CHECKSUM_MISMATCH -> {
                    // the checksum the primary announces leaves the disk write out
                    int pagesOnly = (int) crc.getValue();
                    sendDisk(raw, disks, 2, new DiskWrite(0, page(5)), crc);
                    raw.send(Messages.epochEnd(new EpochEnd(2, 1, 0, 1, pagesOnly, false)));
                }
                case DISK_WRITE_COUNT_MISMATCH -> {
                    sendDisk(raw, disks, 2, new DiskWrite(0, page(5)), crc);
                    raw.send(Messages.epochEnd(new EpochEnd(2, 1, 0, 0, (int) crc.getValue(), false)));
                }
                case PAGES_AFTER_THEIR_EPOCH_ENDED -> raw.send(new Record(RecordType.PAGE_BATCH, 0, 1, batch));
                case ACK_FROM_PRIMARY -> raw.send(Messages.ack(1));
                default -> throw new IllegalStateException(corruption.name());
            }
            String error = raw.readErrorThenEof();
            if (corruption.reason != null) {
                assertNotNull(error, "the backup sends an ERROR before closing");
                assertTrue(error.contains(corruption.reason), error);
            }
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> sink.closed.getCount() == 0);
        assertNotNull(sink.closedCause, "the sink learns the stream failed");
        if (corruption == Corruption.TRUNCATED_RECORD) {
            assertTrue(sink.closedCause.getMessage().contains("truncated record"), sink.closedCause.getMessage());
        } else {
            assertTrue(sink.closedCause.getMessage().contains(corruption.reason), sink.closedCause.getMessage());
        }
        assertEquals(1, backup.stats().rejectedConnections());
        assertEquals(List.of(1L), sink.ends.stream().map(EpochEnd::epoch).toList(), "epoch 2 never ended");
        assertNull(sink.page(1));
        assertArrayEquals(sink.page(0), sink.page(0));
        assertEquals(1, sink.page(0)[0], "the replica still holds epoch 1");
        assertEquals(List.of("1:512:4096"), sink.diskLog(0), "no disk write of epoch 2 reached the disk");
        await().until(() -> backup.connections().isEmpty());
    }
}
