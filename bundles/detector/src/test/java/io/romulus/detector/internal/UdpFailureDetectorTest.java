package io.romulus.detector.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.detector.FailureDetector;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Two or more detectors on loopback UDP, at the default settings (interval 100 ms, threshold 8). */
@Timeout(120)
class UdpFailureDetectorTest {

    private static final Logger LOG = LoggerFactory.getLogger(UdpFailureDetectorTest.class);
    private static final Duration DETECTION_LIMIT = Duration.ofSeconds(5);

    /** What a listener was told, in order. */
    private static final class Events implements FailureDetector.Listener {
        final List<String> events = new CopyOnWriteArrayList<>();
        volatile long suspectedAt;
        volatile double suspectedPhi;

        @Override
        public void suspected(String peerId, double phi) {
            suspectedAt = System.nanoTime();
            suspectedPhi = phi;
            events.add("suspected " + peerId);
        }

        @Override
        public void recovered(String peerId) {
            events.add("recovered " + peerId);
        }
    }

    private final Deque<AutoCloseable> resources = new ArrayDeque<>();

    @AfterEach
    void closeAll() throws Exception {
        while (!resources.isEmpty()) {
            resources.pop().close();
        }
    }

    private <T extends AutoCloseable> T using(T resource) {
        resources.push(resource);
        return resource;
    }

    private UdpFailureDetector detector(String node, int port) throws IOException {
        return using(new UdpFailureDetector(DetectorSettings.defaults(node).withListen("127.0.0.1", port)));
    }

    /** A detector whose heartbeats are authenticated under the secret in {@code secret}. */
    private UdpFailureDetector authenticated(String node, int port, Path secret) throws IOException {
        return using(new UdpFailureDetector(DetectorSettings.defaults(node).withListen("127.0.0.1", port)
                .withSecretFile(secret)));
    }

    private static long heartbeatsFrom(UdpFailureDetector d, String peer) {
        return d.peers().stream().filter(p -> p.peerId().equals(peer))
                .mapToLong(UdpFailureDetector.PeerStatus::heartbeats).sum();
    }

    private static UdpFailureDetector.PeerStatus status(UdpFailureDetector d, String peer) {
        return d.peers().stream().filter(p -> p.peerId().equals(peer)).findFirst().orElseThrow();
    }

    private static String hostPort(InetSocketAddress a) {
        return a.getHostString() + ":" + a.getPort();
    }

    @Test
    void peersThatHeartbeatStayBelowTheThreshold() throws IOException {
        UdpFailureDetector a = detector("a", 0);
        UdpFailureDetector b = detector("b", 0);
        Events atA = new Events();
        Events atB = new Events();
        FailureDetector.Monitor bSeenByA = a.monitor("b", b.localAddress(), atA);
        FailureDetector.Monitor aSeenByB = b.monitor("a", a.localAddress(), atB);

        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(a, "b") >= 5 && heartbeatsFrom(b, "a") >= 5);
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(4))
                .until(() -> bSeenByA.phi() < 8 && aSeenByB.phi() < 8);
        assertEquals(List.of(), atA.events);
        assertEquals(List.of(), atB.events);
        assertTrue(heartbeatsFrom(a, "b") >= 15, "heartbeats from b: " + heartbeatsFrom(a, "b"));
        LOG.info("after 2 s: {}, {}", a.peers(), b.peers());
    }

    @Test
    void aStoppedPeerIsSuspectedAndARestartedOneRecovers() throws IOException {
        UdpFailureDetector a = detector("a", 0);
        UdpFailureDetector b = detector("b", 0);
        int bPort = b.localAddress().getPort();
        Events atA = new Events();
        FailureDetector.Monitor bSeenByA = a.monitor("b", b.localAddress(), atA);
        b.monitor("a", a.localAddress(), new Events());
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(a, "b") >= 10);
        assertEquals(List.of(), atA.events);

        long stopped = System.nanoTime();
        b.close();
        await().atMost(DETECTION_LIMIT).until(() -> !atA.events.isEmpty());
        long detectionMs = TimeUnit.NANOSECONDS.toMillis(atA.suspectedAt - stopped);
        LOG.info("b suspected {} ms after it stopped, phi {}", detectionMs, atA.suspectedPhi);
        assertEquals(List.of("suspected b"), atA.events);
        assertTrue(atA.suspectedPhi >= 8, "phi at suspicion " + atA.suspectedPhi);
        assertTrue(detectionMs >= 100, "suspected too early, after " + detectionMs + " ms");
        double atSuspicion = atA.suspectedPhi;
        await().atMost(DETECTION_LIMIT).until(() -> bSeenByA.phi() > atSuspicion + 2);

        UdpFailureDetector b2 = detector("b", bPort);
        b2.monitor("a", a.localAddress(), new Events());
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.size() >= 2);
        assertEquals(List.of("suspected b", "recovered b"), atA.events);
        assertTrue(bSeenByA.phi() < 8, "phi after recovery " + bSeenByA.phi());
    }

    @Test
    void otherEvidenceKeepsAPeerAliveWithoutHeartbeats() throws Exception {
        UdpFailureDetector a = detector("a", 0);
        DatagramChannel silent = using(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
        Events atA = new Events();
        FailureDetector.Monitor c = a.monitor("c", (InetSocketAddress) silent.getLocalAddress(), atA);
        ScheduledExecutorService acks = Executors.newSingleThreadScheduledExecutor();
        resources.push(acks::shutdownNow);
        Future<?> unused = acks.scheduleAtFixedRate(c::alive, 0, 50, TimeUnit.MILLISECONDS);

        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(4)).until(() -> c.phi() < 8);
        assertEquals(List.of(), atA.events);
        assertEquals(0, heartbeatsFrom(a, "c"));

        acks.shutdownNow();
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected c")));
        c.alive();
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected c", "recovered c")));
    }

    @Test
    void garbageOnTheHeartbeatPortIsIgnored() throws Exception {
        UdpFailureDetector a = detector("a", 0);
        UdpFailureDetector b = detector("b", 0);
        Events atA = new Events();
        FailureDetector.Monitor bSeenByA = a.monitor("b", b.localAddress(), atA);
        b.monitor("a", a.localAddress(), new Events());
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(a, "b") >= 3);

        DatagramChannel noise = using(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
        Random random = new Random(42);
        byte[] oldVersion = new Heartbeat("b", 1, 2).toBytes();
        oldVersion[4] = 9;
        byte[] lying = new Heartbeat("b", 1, 2).toBytes();
        lying[5] = (byte) 200;
        List<byte[]> garbage = new ArrayList<>(List.of(new byte[0], "hello".getBytes(StandardCharsets.US_ASCII),
                oldVersion, lying, new byte[1400]));
        for (int i = 0; i < 15; i++) {
            byte[] g = new byte[1 + random.nextInt(300)];
            random.nextBytes(g);
            garbage.add(g);
        }
        for (byte[] g : garbage) {
            noise.send(ByteBuffer.wrap(g), a.localAddress());
        }
        await().atMost(DETECTION_LIMIT).until(() -> a.malformedHeartbeats() == garbage.size());

        long before = heartbeatsFrom(a, "b");
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(a, "b") >= before + 5);
        assertTrue(bSeenByA.phi() < 8);
        assertEquals(List.of(), atA.events);
        assertEquals(garbage.size(), a.malformedHeartbeats());
    }

    @Test
    void heartbeatsFromTheMonitoredAddressCountWhateverTheirNodeId() throws IOException {
        UdpFailureDetector a = detector("a", 0);
        UdpFailureDetector renamed = detector("b-renamed", 0);
        Events atA = new Events();
        a.monitor("b", renamed.localAddress(), atA);
        renamed.monitor("a", a.localAddress(), new Events());
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(a, "b") >= 5);
        assertEquals(List.of(), atA.events);
    }

    @Test
    void retuningTakesEffectWithoutARestart() throws Exception {
        UdpFailureDetector a = detector("a", 0);
        DatagramChannel silent = using(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
        Events atA = new Events();
        FailureDetector.Monitor c = a.monitor("c", (InetSocketAddress) silent.getLocalAddress(), atA);
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected c")));

        DetectorSettings s = a.settings();
        a.update(new DetectorSettings(s.listenAddress(), s.listenPort(), s.nodeId(), 50, 1e6, s.minStdDevMs(),
                s.acceptablePauseMs(), s.window()));
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected c", "recovered c")));
        assertEquals(50, a.settings().intervalMs());
        assertTrue(c.phi() < 1e6);

        // the heartbeat schedule now runs every 50 ms: about 20 heartbeats a second reach the silent peer
        ByteBuffer in = ByteBuffer.allocate(Heartbeat.MAX_BYTES);
        silent.configureBlocking(false);
        while (silent.receive(in) != null) {
            in.clear(); // what was sent at the old interval
        }
        silent.configureBlocking(true);
        Heartbeat first = receive(silent, in);
        long start = System.nanoTime();
        Heartbeat last = first;
        while (System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1)) {
            last = receive(silent, in);
        }
        assertEquals("a", last.nodeId());
        long sent = last.sequence() - first.sequence();
        assertTrue(sent >= 14, "heartbeats in 1 s: " + sent);
    }

    @Test
    void anotherListenAddressRebindsTheSocket() throws IOException {
        UdpFailureDetector a = detector("a", 0);
        UdpFailureDetector b = detector("b", 0);
        Events atB = new Events();
        a.monitor("b", b.localAddress(), new Events());
        b.monitor("a", a.localAddress(), atB);
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(b, "a") >= 3);

        int port = a.localAddress().getPort();
        a.update(a.settings().withListen("127.0.0.2", port));
        assertEquals(new InetSocketAddress("127.0.0.2", port), a.localAddress());
        // b still sends to the old address, but knows a's heartbeats from the new one by their node id
        long before = heartbeatsFrom(b, "a");
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(b, "a") >= before + 10);
        assertEquals(List.of(), atB.events);
    }

    @Test
    void theNodeIdIsTheOneInTheSettings() throws IOException {
        UdpFailureDetector a = detector(" node-a ", 0);
        assertEquals("node-a", a.nodeId());
        a.update(new DetectorSettings("127.0.0.1", a.localAddress().getPort(), "node-a2", 100, 8.0, 100, 200, 200));
        assertEquals("node-a2", a.nodeId());
    }

    @Test
    void aPeerMonitoredWithoutAnAddressIsLearnedFromItsHeartbeatsAndFollowedToAnotherPort() throws IOException {
        UdpFailureDetector a = detector("a", 0);
        UdpFailureDetector b = detector("b", 0);
        Events atA = new Events();
        Events atB = new Events();
        FailureDetector.Monitor bSeenByA = a.monitor("b", null, atA);
        FailureDetector.Monitor aSeenByB = b.monitor("a", a.localAddress(), atB);

        // b's heartbeats teach a where b is, and a's heartbeats then reach b
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(a, "b") >= 5 && heartbeatsFrom(b, "a") >= 5);
        UdpFailureDetector.PeerStatus learned = status(a, "b");
        assertEquals(hostPort(b.localAddress()), learned.address());
        assertTrue(learned.learned());
        assertFalse(status(b, "a").learned());
        assertTrue(learned.lastHeartbeatMillis() > System.currentTimeMillis() - 5000, learned.toString());
        assertFalse(bSeenByA.suspected());
        assertFalse(aSeenByB.suspected());

        // b stops: a learned monitor is suspected like any other
        b.close();
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected b")));
        assertTrue(bSeenByA.suspected());
        assertEquals(1, status(a, "b").suspicions());

        // b comes back on another port: a follows the new source address and b recovers
        UdpFailureDetector b2 = detector("b", 0);
        Events atB2 = new Events();
        FailureDetector.Monitor aSeenByB2 = b2.monitor("a", a.localAddress(), atB2);
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.size() >= 2);
        assertEquals(List.of("suspected b", "recovered b"), atA.events);
        assertFalse(bSeenByA.suspected());
        assertEquals(hostPort(b2.localAddress()), status(a, "b").address());
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(b2, "a") >= 5);
        assertEquals(1, status(a, "b").suspicions());

        // and a stop of a is seen by b2, which knows a's address from its configuration
        a.close();
        await().atMost(DETECTION_LIMIT).until(() -> atB2.events.equals(List.of("suspected a")));
        assertTrue(aSeenByB2.suspected());
        assertEquals(List.of(), atB.events);
    }

    @Test
    void afterThisNodeItselfStallsItsPeersAreNotJudgedUntilItsReceiverCaughtUp() throws Exception {
        UdpFailureDetector a = detector("a", 0);
        UdpFailureDetector b = detector("b", 0);
        b.monitor("a", a.localAddress(), new Events());
        Events atA = new Events();
        a.monitor("b", b.localAddress(), atA);
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(a, "b") >= 10);
        // a peer that is never heard from is suspected on a's scheduling thread, whose listener then holds that
        // thread for 300 ms: a's next tick comes that late, as after a garbage collection
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        a.monitor("ghost", new InetSocketAddress("127.0.0.1", 9), new FailureDetector.Listener() {
            @Override
            public void suspected(String peerId, double phi) {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                held.countDown();
            }

            @Override
            public void recovered(String peerId) {
            }
        });
        assertTrue(held.await(10, TimeUnit.SECONDS));
        await().atMost(DETECTION_LIMIT).until(() -> a.localStalls() >= 1);
        Thread.sleep(200);
        assertEquals(List.of(), atA.events, "b, heard all along, is not suspected for a's own stall");
    }

    @Test
    void aPeerNeverHeardFromIsSentNothingAndSuspectedAfterTheUsualSilenceAndASecondOfGrace() throws Exception {
        UdpFailureDetector a = detector("a", 0);
        DatagramChannel c = using(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
        c.configureBlocking(false);
        Events atA = new Events();
        long monitored = System.nanoTime();
        FailureDetector.Monitor cSeenByA = a.monitor("c", null, atA);

        // not convicted at monitor() time: its silence counts from now, judged by the expected interval
        assertTrue(cSeenByA.phi() < 1, "phi right after monitor(): " + cSeenByA.phi());
        assertFalse(cSeenByA.suspected());
        UdpFailureDetector.PeerStatus unknown = status(a, "c");
        assertEquals("", unknown.address());
        assertTrue(unknown.learned());
        assertEquals(0, unknown.lastHeartbeatMillis());

        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected c")));
        long detectionMs = TimeUnit.NANOSECONDS.toMillis(atA.suspectedAt - monitored);
        LOG.info("a peer never heard from was suspected {} ms after monitor()", detectionMs);
        assertTrue(detectionMs >= 1000, "suspected too early, after " + detectionMs + " ms");
        assertTrue(cSeenByA.suspected());
        assertEquals(1, status(a, "c").suspicions());
        ByteBuffer in = ByteBuffer.allocate(Heartbeat.MAX_BYTES);
        assertNull(c.receive(in), "a sent heartbeats to an address it could not know");

        // a heartbeat from another node id at c's address does not count for c: only configured addresses match so
        c.send(ByteBuffer.wrap(new Heartbeat("z", 0, 0).toBytes()), a.localAddress());
        await().during(Duration.ofMillis(300)).atMost(Duration.ofMillis(1300)).untilAsserted(() -> {
            assertEquals(0, heartbeatsFrom(a, "c"));
            assertTrue(cSeenByA.suspected());
        });

        // c's first heartbeat: a learns where c is, c recovers, and a's heartbeats reach c from then on
        c.send(ByteBuffer.wrap(new Heartbeat("c", 0, System.currentTimeMillis()).toBytes()), a.localAddress());
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected c", "recovered c")));
        assertEquals(hostPort((InetSocketAddress) c.getLocalAddress()), status(a, "c").address());
        c.configureBlocking(true);
        assertEquals("a", receive(c, in).nodeId());

        // then silent again: suspected a second time
        await().atMost(DETECTION_LIMIT)
                .until(() -> atA.events.equals(List.of("suspected c", "recovered c", "suspected c")));
        assertEquals(2, status(a, "c").suspicions());
        assertEquals(1, status(a, "c").heartbeats());
    }

    @Test
    void suspectedEndsAsSoonAsThePeerIsHeardFrom() throws Exception {
        UdpFailureDetector a = detector("a", 0);
        DatagramChannel silent = using(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
        Events atA = new Events();
        FailureDetector.Monitor c = a.monitor("c", (InetSocketAddress) silent.getLocalAddress(), atA);
        await().atMost(DETECTION_LIMIT).until(c::suspected);
        c.alive();
        assertFalse(c.suspected(), "heard from after the suspicion");
        await().atMost(DETECTION_LIMIT).until(() -> atA.events.equals(List.of("suspected c", "recovered c")));
    }

    /**
     * The primary (authenticated, as the backup) dies while an attacker sends heartbeats in its name as fast as it
     * can from another socket, then from the primary's own address too: unsigned ones with fresh sequences and times,
     * ones signed under another secret, and replays of genuine heartbeats the primary had sent it (the attacker is a
     * peer of the primary's). None counts: the backup convicts the primary as quickly as without them. A restarted
     * primary (its sequences continue from its clock) is believed again.
     */
    @Test
    void spoofedHeartbeatsOfADeadPrimaryDoNotDelayItsConviction(@TempDir Path dir) throws Exception {
        Path secret = dir.resolve("stream.secret");
        UdpFailureDetector backup = authenticated("backup", 0, secret);
        UdpFailureDetector primary = authenticated("primary", 0, secret);
        InetSocketAddress primaryAt = primary.localAddress();
        DatagramChannel attacker = using(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
        Events atBackup = new Events();
        FailureDetector.Monitor primarySeenByBackup = backup.monitor("primary", primaryAt, atBackup);
        primary.monitor("backup", backup.localAddress(), new Events());
        primary.monitor("attacker", (InetSocketAddress) attacker.getLocalAddress(), new Events());

        List<byte[]> captured = new ArrayList<>();
        ByteBuffer in = ByteBuffer.allocate(Heartbeat.MAX_BYTES);
        while (captured.size() < 30) {
            in.clear();
            attacker.receive(in);
            captured.add(Arrays.copyOf(in.array(), in.position()));
        }
        await().atMost(DETECTION_LIMIT).until(() -> heartbeatsFrom(backup, "primary") >= 10);
        assertTrue(backup.authenticated());
        assertEquals(0, backup.rejectedHeartbeats());

        HeartbeatKey otherKey = HeartbeatKey.of(new byte[32]);
        List<DatagramChannel> sources = new CopyOnWriteArrayList<>(List.of(attacker));
        AtomicLong sent = new AtomicLong();
        ScheduledExecutorService spoofer = Executors.newSingleThreadScheduledExecutor();
        resources.push(spoofer::shutdownNow);
        long[] sequence = {Long.MAX_VALUE / 2};
        Future<?> spoofing = spoofer.scheduleAtFixedRate(() -> {
            long now = System.currentTimeMillis();
            List<byte[]> spoofs = List.of(new Heartbeat("primary", sequence[0]++, now).toBytes(),
                    new Heartbeat("primary", sequence[0]++, now).toBytes(otherKey),
                    captured.get((int) (sent.get() % captured.size())));
            for (DatagramChannel from : sources) {
                for (byte[] spoof : spoofs) {
                    try {
                        from.send(ByteBuffer.wrap(spoof), backup.localAddress());
                        sent.incrementAndGet();
                    } catch (IOException e) {
                        LOG.debug("spoof not sent: {}", e.toString());
                    }
                }
            }
        }, 0, 2, TimeUnit.MILLISECONDS);
        await().atMost(DETECTION_LIMIT).until(() -> backup.rejectedHeartbeats() >= 30);
        assertEquals(List.of(), atBackup.events, "the primary is still alive");

        long stopped = System.nanoTime();
        primary.close();
        long heardBefore = heartbeatsFrom(backup, "primary");
        sources.add(using(DatagramChannel.open().bind(primaryAt)));
        await().atMost(DETECTION_LIMIT).until(() -> !atBackup.events.isEmpty());
        long detectionMs = TimeUnit.NANOSECONDS.toMillis(atBackup.suspectedAt - stopped);
        LOG.info("primary convicted {} ms after it stopped, while {} spoofed heartbeats were sent; {} refused",
                detectionMs, sent.get(), backup.rejectedHeartbeats());
        assertEquals(List.of("suspected primary"), atBackup.events);
        assertTrue(detectionMs < 1000, "conviction delayed to " + detectionMs + " ms");
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(primarySeenByBackup::suspected);
        assertTrue(heartbeatsFrom(backup, "primary") <= heardBefore + 1, "heartbeats counted after the primary died");
        assertTrue(backup.rejectedHeartbeats() >= 100, "refused: " + backup.rejectedHeartbeats());

        spoofing.cancel(false);
        spoofer.shutdownNow();
        sources.get(1).close();
        UdpFailureDetector restarted = authenticated("primary", primaryAt.getPort(), secret);
        restarted.monitor("backup", backup.localAddress(), new Events());
        await().atMost(DETECTION_LIMIT).until(() -> atBackup.events.size() >= 2);
        assertEquals(List.of("suspected primary", "recovered primary"), atBackup.events);
    }

    private static Heartbeat receive(DatagramChannel channel, ByteBuffer buffer) throws Exception {
        buffer.clear();
        channel.receive(buffer);
        buffer.flip();
        return Heartbeat.decode(buffer);
    }
}
