package io.romulus.transport.mina.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import javax.management.openmbean.TabularData;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.EpochTransfer;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.RecordType;
import io.romulus.transport.mina.internal.management.TransportMBeanImpl;

class TransportTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final Random random = new Random(7);

    private final List<RecordingSink> sinks = new ArrayList<>();

    private RecordingSink sink() {
        RecordingSink s = new RecordingSink(PAGE);
        sinks.add(s);
        return s;
    }

    @AfterEach
    void closeAll() throws Exception {
        for (RecordingSink s : sinks) {
            if (s.gate != null) {
                s.gate.countDown();
            }
        }
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    static final class Acks implements AckListener {
        final List<Long> acked = new CopyOnWriteArrayList<>();
        final AtomicInteger closedCalls = new AtomicInteger();
        volatile Throwable cause;
        final List<String> handOverAnswers = new CopyOnWriteArrayList<>();
        final AtomicInteger handOverRequests = new AtomicInteger();

        @Override
        public void handOverRequested() {
            handOverRequests.incrementAndGet();
        }

        @Override
        public void handOverReady(long epoch) {
            handOverAnswers.add(epoch + " ready");
        }

        @Override
        public void handOverRefused(long epoch, String reason) {
            handOverAnswers.add(epoch + " refused: " + reason);
        }

        @Override
        public void acknowledged(long epoch) {
            acked.add(epoch);
        }

        @Override
        public void closed(Throwable c) {
            cause = c;
            closedCalls.incrementAndGet();
        }
    }

    private TransportSettings base() {
        return TransportSettings.defaults().withListen("127.0.0.1", 0).withDeltaCacheBytes(8L << 20)
                .withConnectTimeoutMs(3000);
    }

    private MinaCheckpointTransport start(TransportSettings s) throws IOException {
        MinaCheckpointTransport t = MinaCheckpointTransport.create(s);
        toClose.add(t);
        return t;
    }

    private Path secret(String name, byte[] value) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, Base64.getEncoder().encodeToString(value));
        return p;
    }

    private static Hello hello(String domain) {
        return new Hello("primary-node", domain, "sim", 64L << 20, PAGE, Map.of("k", "v"));
    }

    @Test
    void multiEpochStreamReassemblesTheMemoryByteForByte() throws Exception {
        Path secretFile = dir.resolve("etc/romulus-stream.secret");
        MinaCheckpointTransport backup = start(base().withNodeId("backup-node").withSecretFile(secretFile));
        assertTrue(Files.exists(secretFile), "the backup generated the secret");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secretFile)));
        assertEquals(32, Base64.getDecoder().decode(Files.readString(secretFile).trim()).length);
        Path primarySecret = dir.resolve("primary.secret");
        Files.copy(secretFile, primarySecret);
        MinaCheckpointTransport primary = start(base().withListen(null, 0).withSecretFile(primarySecret));
        RecordingSink sink = sink();
        backup.setAcceptor(sink);

        int pages = 3000;
        byte[][] memory = new byte[pages][];
        for (int i = 0; i < pages; i++) {
            memory[i] = switch (i % 3) {
                case 0 -> new byte[PAGE];
                case 1 -> text(i);
                default -> randomBytes(PAGE);
            };
        }
        Acks acks = new Acks();
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello("sim:vm1"), acks);
        assertEquals("backup-node", channel.peer().nodeId());
        assertEquals(1, sink.accepted.get());

        long[] all = new long[pages];
        Arrays.setAll(all, i -> i);
        EpochTransfer initial = send(channel, 0, all, memory, true);
        assertTrue(initial.compressionRatio() > 1.5, "zero and text pages compress: " + initial);
        for (long epoch = 1; epoch <= 6; epoch++) {
            long[] dirty = random.longs(400, 0, pages).distinct().toArray();
            for (long pfn : dirty) {
                byte[] p = memory[(int) pfn];
                switch ((int) (pfn % 4)) {
                    case 0 -> p[random.nextInt(PAGE)] ^= (byte) (1 + random.nextInt(255));
                    case 1 -> Arrays.fill(p, (byte) 0);
                    case 2 -> memory[(int) pfn] = randomBytes(PAGE);
                    default -> memory[(int) pfn] = text((int) (pfn * epoch));
                }
            }
            EpochTransfer t = send(channel, epoch, dirty, memory, false);
            assertTrue(t.wireBytes() > 0);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> acks.acked.size() == 7);
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L), acks.acked);
        assertEquals(7, sink.ends.size());
        assertTrue(sink.ends.get(0).initial());
        assertArrayEquals("device-6".getBytes(StandardCharsets.UTF_8), sink.deviceState);
        for (int i = 0; i < pages; i++) {
            assertArrayEquals(memory[i], sink.page(i), "page " + i);
        }
        assertTrue(primary.stats().compressionRatio() > 1.5, "ratio " + primary.stats().compressionRatio());

        TransportMBeanImpl mbean = new TransportMBeanImpl(backup);
        assertTrue(mbean.getBytesReceived() > 0);
        assertTrue(mbean.getRecordsReceived() > 7);
        assertTrue(mbean.isAuthenticationRequired());
        TabularData table = mbean.getConnections();
        assertEquals(1, table.size());
        // a row of two strings, which Hawtio shows as one key=value line
        javax.management.openmbean.CompositeData row = table.values().stream()
                .map(javax.management.openmbean.CompositeData.class::cast).findFirst().orElseThrow();
        assertEquals(java.util.Set.of("key", "value"), row.getCompositeType().keySet());
        assertTrue(row.get("key").toString().startsWith("backup "), row.toString());
        assertTrue(row.get("value").toString().endsWith(" bytes queued, last epoch 6"), row.toString());
        assertEquals("primary", primary.connections().get(0).role());

        channel.close();
        assertTrue(sink.closed.await(5, java.util.concurrent.TimeUnit.SECONDS));
        assertTrue(sink.closedOrderly, "GOODBYE closes the sink without a cause");
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.closedCalls.get() == 1);
        assertNull(acks.cause);
        assertFalse(channel.isOpen());
        assertThrows(CheckpointException.class, () -> channel.endEpoch(7, false));
    }

    @Test
    void diskWritesTravelWithTheirEpochInBoundedRecordsAndCountInItsEnd() throws Exception {
        MinaCheckpointTransport backup = start(base().withNodeId("backup-node").withMaxRecordBytes(64 * 1024));
        MinaCheckpointTransport primary = start(base().withListen(null, 0).withMaxRecordBytes(64 * 1024));
        RecordingSink sink = sink();
        backup.setAcceptor(sink);
        Acks acks = new Acks();
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello("sim:disks"), acks);

        byte[] disk0 = new byte[1 << 20];
        byte[] disk1 = new byte[1 << 20];
        random.nextBytes(disk1);
        // the initial copy: disk 1 in chunks larger than a record, disk 0 all zeroes
        channel.sendPages(0, new long[] {0}, 0, 1, ByteBuffer.allocate(PAGE));
        channel.sendDiskWrites(0, 0, List.of(new io.romulus.api.disk.DiskWrite(0, disk0.clone())));
        for (int off = 0; off < disk1.length; off += 256 * 1024) {
            channel.sendDiskWrites(0, 1, List.of(new io.romulus.api.disk.DiskWrite(off,
                    Arrays.copyOfRange(disk1, off, off + 256 * 1024))));
        }
        EpochTransfer initial = channel.endEpoch(0, true);
        assertTrue(initial.rawBytes() >= 2L << 20, "disk bytes count as raw bytes: " + initial);
        for (long epoch = 1; epoch <= 5; epoch++) {
            List<io.romulus.api.disk.DiskWrite> writes = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                int off = random.nextInt(disk0.length - 9000);
                byte[] data = i % 2 == 0 ? text(off).clone() : randomBytes(1 + random.nextInt(9000));
                System.arraycopy(data, 0, disk0, off, data.length);
                writes.add(new io.romulus.api.disk.DiskWrite(off, data));
            }
            channel.sendDeviceState(epoch, ("device-" + epoch).getBytes(StandardCharsets.UTF_8));
            channel.sendDiskWrites(epoch, 0, writes);
            channel.endEpoch(epoch, false);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> acks.acked.size() == 6);
        // a write holds at most a record's room (65511 bytes here): 1 MiB of zeroes travels as 17 writes, each
        // 256 KiB chunk as 5
        assertEquals(17 + 4 * 5, sink.ends.get(0).diskWriteCount());
        for (int e = 1; e <= 5; e++) {
            assertEquals(20, sink.ends.get(e).diskWriteCount(), "epoch " + e);
        }
        assertArrayEquals(disk0, sink.disk(0), "disk 0 byte for byte");
        assertArrayEquals(disk1, sink.disk(1), "disk 1 byte for byte");
        assertTrue(sink.diskLog(0).get(17).startsWith("1:"), "checkpoint writes follow the initial copy in order");
        channel.close();
    }

    private EpochTransfer send(CheckpointChannel channel, long epoch, long[] pfns, byte[][] memory, boolean initial)
            throws Exception {
        ByteBuffer buf = ByteBuffer.allocate(pfns.length * PAGE);
        for (long pfn : pfns) {
            buf.put(memory[(int) pfn]);
        }
        buf.flip();
        // in two calls, the second from a non-zero offset, to exercise from/position
        int half = pfns.length / 2;
        channel.sendPages(epoch, pfns, 0, half, buf);
        buf.position(half * PAGE);
        channel.sendPages(epoch, pfns, half, pfns.length - half, buf);
        channel.sendDeviceState(epoch, ("device-" + epoch).getBytes(StandardCharsets.UTF_8));
        return channel.endEpoch(epoch, initial);
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private static byte[] text(int seed) {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < PAGE) {
            sb.append("user=").append(seed % 97).append(" session=").append(seed++).append(" ok\n");
        }
        return Arrays.copyOf(sb.toString().getBytes(StandardCharsets.US_ASCII), PAGE);
    }

    @Test
    void primaryWithWrongSecretIsRefusedAndNoSinkIsCreated() throws Exception {
        MinaCheckpointTransport backup = start(base().withSecretFile(secret("b", randomBytes(32))));
        RecordingSink sink = sink();
        backup.setAcceptor(sink);
        try (RawPeer raw = new RawPeer(backup.listenAddress())) {
            IOException e = assertThrows(IOException.class,
                    () -> raw.handshake(SharedSecret.of(randomBytes(32)), 0));
            assertTrue(e.getMessage().contains("the primary does not know the pre-shared secret"), e.getMessage());
        }
        await().until(() -> backup.stats().rejectedConnections() == 1);
        MinaCheckpointTransport primary = start(base().withListen(null, 0).withSecretFile(secret("p",
                randomBytes(32))));
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> primary.connect(backup.listenAddress(), hello("sim:vm"), new Acks()));
        assertTrue(e.getMessage().contains("authentication failed"), e.getMessage());
        assertEquals(0, sink.accepted.get());
    }

    @Test
    void backupWithWrongSecretIsRefusedByThePrimary() throws Exception {
        MinaCheckpointTransport backup = start(base().withSecretFile(secret("b", randomBytes(32))));
        RecordingSink sink = sink();
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = start(base().withListen(null, 0).withSecretFile(secret("p",
                randomBytes(32))));
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> primary.connect(backup.listenAddress(), hello("sim:vm"), new Acks()));
        assertTrue(e.getMessage().contains("the backup does not know the pre-shared secret"), e.getMessage());
        assertEquals(1, primary.stats().rejectedConnections());
        assertEquals(0, sink.accepted.get());

        MinaCheckpointTransport unauthenticatedBackup = start(base());
        unauthenticatedBackup.setAcceptor(sink);
        CheckpointException e2 = assertThrows(CheckpointException.class,
                () -> primary.connect(unauthenticatedBackup.listenAddress(), hello("sim:vm"), new Acks()));
        assertTrue(e2.getMessage().contains("the backup sent no pre-shared secret proof"), e2.getMessage());

        MinaCheckpointTransport unauthenticatedPrimary = start(base().withListen(null, 0));
        CheckpointException e3 = assertThrows(CheckpointException.class,
                () -> unauthenticatedPrimary.connect(backup.listenAddress(), hello("sim:vm"), new Acks()));
        assertTrue(e3.getMessage().contains("sent no pre-shared secret proof"), e3.getMessage());
        assertEquals(0, sink.accepted.get());
    }

    @Test
    void refusalsReachThePrimaryWithTheirReason() throws Exception {
        MinaCheckpointTransport backup = start(base());
        MinaCheckpointTransport primary = start(base().withListen(null, 0));
        CheckpointException noEngine = assertThrows(CheckpointException.class,
                () -> primary.connect(backup.listenAddress(), hello("sim:vm"), new Acks()));
        assertTrue(noEngine.getMessage().contains("no replication engine is running on this node"),
                noEngine.getMessage());
        backup.setAcceptor(sink());
        CheckpointException refused = assertThrows(CheckpointException.class,
                () -> primary.connect(backup.listenAddress(), hello("refused:vm"), new Acks()));
        assertTrue(refused.getMessage().contains("refused:vm is not configured here"), refused.getMessage());
        assertFalse(refused instanceof io.romulus.api.transport.DomainTakenOverException);
        // a backup that activated its replica says so in the ERROR record's flags: the primary has lost the domain
        CheckpointException taken = assertThrows(io.romulus.api.transport.DomainTakenOverException.class,
                () -> primary.connect(backup.listenAddress(), hello("taken:vm"), new Acks()));
        assertTrue(taken.getMessage().contains("taken:vm runs here now"), taken.getMessage());

        InetSocketAddress nobody = backup.listenAddress();
        backup.close();
        CheckpointException down = assertThrows(CheckpointException.class,
                () -> primary.connect(nobody, hello("sim:vm"), new Acks()));
        assertTrue(down.getMessage().contains("cannot connect to backup"), down.getMessage());
    }

    @Test
    void protocolVersionMismatchIsRefusedNamingBothVersions() throws Exception {
        MinaCheckpointTransport backup = start(base());
        RecordingSink sink = sink();
        backup.setAcceptor(sink);
        try (RawPeer raw = new RawPeer(backup.listenAddress())) {
            // a node of the previous version, whose records after the handshake are not sealed
            Record hello = Messages.clientHello(new Messages.ClientHello(1, RawPeer.hello("sim:vm"), 0,
                    SharedSecret.nonce(), StreamProtection.NONE));
            raw.send(hello);
            String error = raw.readErrorThenEof();
            assertEquals("protocol version 1 is not supported; this node speaks version 2", error);
        }
        assertEquals(0, sink.accepted.get());
    }

    @Test
    void aHandOverIsPreparedAnsweredAndEndsTheStreamWithoutGoodbye() throws Exception {
        RecordingSink sink = sink();
        Acks acks = new Acks();
        CheckpointChannel channel = streamAckedThroughEpoch1(sink, acks);
        long[] pfns = {3};

        assertEquals(0, acks.handOverRequests.get());

        // refused: the answer says why, and the stream goes on; the backup's operator asks, with the next ACK
        sink.wantHandOver.set(true);
        sink.refuseHandOver = "not now";
        channel.prepareHandOver(1);
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.handOverAnswers.contains("1 refused: not now"));
        assertTrue(channel.isOpen());
        channel.sendPages(2, pfns, 0, 1, ByteBuffer.wrap(randomBytes(PAGE)));
        channel.sendDeviceState(2, new byte[] {2});
        channel.endEpoch(2, false);
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.acked.contains(2L));
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.handOverRequests.get() == 1);

        // ready, then go: the backup takes it over and the stream ends, without GOODBYE
        sink.refuseHandOver = null;
        channel.prepareHandOver(2);
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.handOverAnswers.contains("2 ready"));
        assertEquals(List.of(2L), sink.prepared);
        channel.handOver(2);
        assertTrue(sink.closed.await(5, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(List.of(2L), sink.handedOver);
        assertEquals(List.of(List.of()), sink.framesHandedOver, "a hand-over without frames carries none");
        assertTrue(!sink.closedOrderly, "the backup keeps its replica: no GOODBYE");
        assertTrue(!channel.isOpen());
    }

    /** A backup feeding {@code sink} and a primary's stream to it whose checkpoint 1 (one page) was acknowledged. */
    private CheckpointChannel streamAckedThroughEpoch1(RecordingSink sink, Acks acks) throws Exception {
        MinaCheckpointTransport backup = start(base());
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = start(base().withListen(null, 0));
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello("sim:vm"), acks);
        channel.sendPages(1, new long[] {3}, 0, 1, ByteBuffer.wrap(randomBytes(PAGE)));
        channel.sendDeviceState(1, new byte[] {1});
        channel.endEpoch(1, false);
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.acked.contains(1L));
        return channel;
    }

    @Test
    void theHandOverCarriesTheFramesThatReachedThePausedCopyInOrderOverTheSealedStream() throws Exception {
        RecordingSink sink = sink();
        Acks acks = new Acks();
        CheckpointChannel channel = streamAckedThroughEpoch1(sink, acks);
        channel.prepareHandOver(1);
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.handOverAnswers.contains("1 ready"));
        List<InboundFrame> frames = List.of(new InboundFrame(0, randomBytes(60)),
                new InboundFrame(1, randomBytes(1514)),
                new InboundFrame(0, randomBytes(98)));

        channel.handOver(1, frames);

        assertTrue(sink.closed.await(5, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(List.of(1L), sink.handedOver);
        assertEquals(1, sink.framesHandedOver.size());
        List<InboundFrame> got = sink.framesHandedOver.get(0);
        assertEquals(frames.size(), got.size());
        for (int i = 0; i < frames.size(); i++) {
            assertEquals(frames.get(i).nic(), got.get(i).nic());
            assertArrayEquals(frames.get(i).frame(), got.get(i).frame());
        }
    }

    @Test
    void closedStreamMakesSendsFailPromptlyAndTellsTheListenerOnce() throws Exception {
        MinaCheckpointTransport backup = start(base());
        backup.setAcceptor(sink());
        MinaCheckpointTransport primary = start(base().withListen(null, 0));
        Acks acks = new Acks();
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello("sim:vm"), acks);
        backup.close();
        await().atMost(Duration.ofSeconds(5)).until(() -> !channel.isOpen());
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.closedCalls.get() == 1);
        long[] pfns = {1};
        assertThrows(CheckpointException.class,
                () -> channel.sendPages(1, pfns, 0, 1, ByteBuffer.allocate(PAGE)));
        channel.close();
        assertEquals(1, acks.closedCalls.get());
    }

    @Test
    void slowBackupMakesSendPagesBlockWithinTheWatermark() throws Exception {
        long watermark = 512 * 1024;
        MinaCheckpointTransport backup = start(base());
        RecordingSink sink = sink();
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = start(base().withListen(null, 0).withHighWatermark(watermark)
                .withDeltaCacheBytes(0));
        Acks acks = new Acks();
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello("sim:vm"), acks);
        sink.gate = new java.util.concurrent.CountDownLatch(1);

        int perCall = 64;
        int calls = 200; // 50 MiB of incompressible pages
        ByteBuffer pages = ByteBuffer.wrap(randomBytes(perCall * PAGE));
        // one record as it waits in the queue: sealed (the stream is encrypted even without a pre-shared secret), a
        // tag per 64 KiB segment of its body (the bound without the tags failed now and then, by 64 bytes)
        long maxRecord = RecordCodec.HEADER_BYTES + RecordCipher.sealedLength(4L + (long) perCall
                * (PAGE + PageBatchCodec.PAGE_HEADER_BYTES)) + RecordCodec.TRAILER_BYTES;
        AtomicInteger sent = new AtomicInteger();
        List<Long> queued = new CopyOnWriteArrayList<>();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        Thread sender = new Thread(() -> {
            try {
                for (int i = 0; i < calls; i++) {
                    long[] pfns = new long[perCall];
                    Arrays.setAll(pfns, j -> (long) sent.get() * perCall + j);
                    channel.sendPages(1, pfns, 0, perCall, pages);
                    queued.add(primary.connections().get(0).queuedBytes());
                    sent.incrementAndGet();
                }
                channel.endEpoch(1, false);
            } catch (Exception e) {
                errors.add(e);
            }
        }, "test-sender");
        sender.start();
        // blocked: in the watermark wait, and no progress between two polls (socket buffers have filled)
        AtomicInteger previous = new AtomicInteger(-1);
        await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(250)).until(
                () -> sender.getState() == Thread.State.TIMED_WAITING && previous.getAndSet(sent.get()) == sent.get());
        int before = sent.get();
        assertTrue(before < calls, "sent " + before + " of " + calls + " while the backup was stuck");
        assertTrue(sink.pageEpochs.size() <= 1);

        sink.gate.countDown();
        sender.join(20_000);
        assertTrue(errors.isEmpty(), errors.toString());
        assertEquals(calls, sent.get());
        await().atMost(Duration.ofSeconds(10)).until(() -> acks.acked.contains(1L));
        for (long q : queued) {
            assertTrue(q <= watermark + maxRecord, "queued " + q + " > watermark + one record");
        }
        assertEquals(calls * perCall, sink.ends.get(0).pageCount());
    }

    @Test
    void interruptedSenderGetsInterruptedException() throws Exception {
        MinaCheckpointTransport backup = start(base());
        RecordingSink sink = sink();
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = start(base().withListen(null, 0).withHighWatermark(64 * 1024)
                .withDeltaCacheBytes(0));
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello("sim:vm"), new Acks());
        sink.gate = new java.util.concurrent.CountDownLatch(1);
        ByteBuffer pages = ByteBuffer.wrap(randomBytes(64 * PAGE));
        List<Throwable> thrown = new CopyOnWriteArrayList<>();
        Thread sender = new Thread(() -> {
            try {
                for (int i = 0; i < 10_000; i++) {
                    long[] pfns = new long[64];
                    int base = i * 64;
                    Arrays.setAll(pfns, j -> base + j);
                    channel.sendPages(1, pfns, 0, 64, pages);
                }
            } catch (Exception e) {
                thrown.add(e);
            }
        });
        sender.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> sender.getState() == Thread.State.TIMED_WAITING);
        sender.interrupt();
        sender.join(5000);
        sink.gate.countDown();
        assertEquals(1, thrown.size());
        assertTrue(thrown.get(0) instanceof InterruptedException, thrown.toString());
    }

    @Test
    void recordTypeEnumStaysAsDocumented() {
        assertEquals(2, RecordType.PAGE_BATCH.code());
        assertNotNull(MinaCheckpointTransport.PID);
    }
}
