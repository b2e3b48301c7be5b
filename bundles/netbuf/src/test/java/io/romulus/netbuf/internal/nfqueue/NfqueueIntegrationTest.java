package io.romulus.netbuf.internal.nfqueue;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.LockSupport;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferStats;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.NetworkNamespace;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Output commit through a real NFQUEUE, in network namespaces this test creates: a "guest" namespace G whose veth is
 * a port of a bridge in namespace A (that port stands for the guest's tap), and a receiver namespace R on the same
 * bridge. G sends numbered UDP datagrams to R while the test seals an epoch every 20 ms and releases each three
 * epochs later, as an engine would on the backup's ack. Needs root, ip, iptables, ip6tables, sysctl and
 * br_netfilter; a missing prerequisite fails the test with its name.
 */
class NfqueueIntegrationTest {

    private static final Logger LOG = LoggerFactory.getLogger(NfqueueIntegrationTest.class);
    private static final long PID = ProcessHandle.current().pid();
    private static final String A = "rnb-" + PID + "-a";
    private static final String G = "rnb-" + PID + "-g";
    private static final String R = "rnb-" + PID + "-r";
    private static final String TAP = "rnbtap0";
    private static final int PORT = 9000;
    private static final int PAYLOAD = 64;
    private static final long MS = 1_000_000L;

    private static LinuxNetlink lib;
    private static Path ip;

    private NfqueueProvider provider;
    private OutputBuffer buffer;
    private DatagramChannel sender;
    private DatagramChannel receiver;
    private Thread receiving;
    /** (phase << 32 | seq) -> arrival time. */
    private final Map<Long, Long> arrivals = new ConcurrentHashMap<>();
    private final List<Long> arrivalOrder = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void prerequisites() throws Exception {
        for (String tool : List.of("ip", "iptables", "ip6tables", "sysctl")) {
            assertNotNull(HostCommands.find(tool), tool + " is not installed (scripts/prerequisites.sh installs it)");
        }
        ip = HostCommands.find("ip");
        assertEquals("0", HostCommands.run(List.of("id", "-u")).out().strip(),
                "this test needs root (network namespaces, iptables, NFQUEUE)");
        if (!Files.exists(Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables"))) {
            Path modprobe = HostCommands.find("modprobe");
            if (modprobe != null) {
                HostCommands.run(List.of(modprobe.toString(), "br_netfilter"));
            }
        }
        assertTrue(Files.exists(Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables")),
                "br_netfilter is missing (no /proc/sys/net/bridge; modprobe br_netfilter or CONFIG_BRIDGE_NETFILTER)");
        lib = LinuxNetlink.load();
    }

    private static void sh(Object... argv) throws OutputBufferException {
        List<String> cmd = new ArrayList<>();
        for (Object a : argv) {
            cmd.add(a.toString());
        }
        HostCommands.check(cmd, "set up the test network");
    }

    @BeforeEach
    void network() throws Exception {
        for (String ns : List.of(A, G, R)) {
            sh(ip, "netns", "add", ns);
        }
        sh(ip, "-n", A, "link", "add", "br0", "type", "bridge");
        sh(ip, "-n", A, "link", "set", "br0", "up");
        sh(ip, "-n", A, "link", "add", TAP, "type", "veth", "peer", "name", "eth0", "netns", G);
        sh(ip, "-n", A, "link", "add", "rnbout0", "type", "veth", "peer", "name", "eth0", "netns", R);
        for (String port : List.of(TAP, "rnbout0")) {
            sh(ip, "-n", A, "link", "set", port, "master", "br0");
            sh(ip, "-n", A, "link", "set", port, "up");
        }
        String[][] hosts = {{G, "10.98.0.10/24"}, {R, "10.98.0.20/24"}};
        for (String[] h : hosts) {
            // no IPv6 chatter (router solicitations, DAD) from the guest: the counts below are exact
            sh(ip, "netns", "exec", h[0], "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
            sh(ip, "netns", "exec", h[0], "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1");
            sh(ip, "-n", h[0], "addr", "add", h[1], "dev", "eth0");
            sh(ip, "-n", h[0], "link", "set", "eth0", "up");
            sh(ip, "-n", h[0], "link", "set", "lo", "up");
        }
        sender = NetworkNamespace.call(lib, G, () -> {
            DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET);
            c.bind(new InetSocketAddress("10.98.0.10", 0));
            c.connect(new InetSocketAddress("10.98.0.20", PORT));
            return c;
        });
        receiver = NetworkNamespace.call(lib, R, () -> {
            DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET);
            c.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
            c.bind(new InetSocketAddress("10.98.0.20", PORT));
            return c;
        });
        receiving = new Thread(this::receive, "test-receiver");
        receiving.setDaemon(true);
        receiving.start();
        provider = new NfqueueProvider(NfqueueSettings.defaults(), lib);
    }

    @AfterEach
    void teardown() {
        if (buffer != null) {
            try {
                buffer.close();
            } catch (RuntimeException e) {
                LOG.warn("closing the buffer: {}", e.toString());
            }
        }
        for (DatagramChannel c : Arrays.asList(sender, receiver)) {
            if (c != null) {
                try {
                    c.close();
                } catch (IOException e) {
                    LOG.warn("closing a channel: {}", e.toString());
                }
            }
        }
        for (String ns : List.of(G, R, A)) {
            try {
                HostCommands.run(List.of(ip.toString(), "netns", "del", ns));
            } catch (OutputBufferException e) {
                LOG.warn("deleting {}: {}", ns, e.getMessage());
            }
        }
    }

    private void receive() {
        ByteBuffer b = ByteBuffer.allocate(2048);
        try {
            while (true) {
                b.clear();
                receiver.receive(b);
                long now = System.nanoTime();
                long key = ((long) b.getInt(0) << 32) | (b.getInt(4) & 0xffffffffL);
                arrivals.putIfAbsent(key, now);
                arrivalOrder.add(key);
            }
        } catch (IOException e) {
            // closed at teardown
        }
    }

    private long send(int phase, int seq) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(PAYLOAD);
        b.putInt(0, phase).putInt(4, seq);
        long t = System.nanoTime();
        sender.write(b);
        return t;
    }

    private static long key(int phase, int seq) {
        return ((long) phase << 32) | seq;
    }

    private long arrived(int phase) {
        return arrivals.keySet().stream().filter(k -> (k >>> 32) == phase).count();
    }

    /** Asserts that no datagram of these phases arrives during the whole window, looked at every 10 ms. */
    private void assertNoneArrive(Duration window, String why, int... phases) {
        await(why).during(window).atMost(window.plusSeconds(1)).pollInterval(Duration.ofMillis(10))
                .untilAsserted(() -> assertEquals(0, Arrays.stream(phases).mapToLong(this::arrived).sum(), why));
    }

    private String rules(String tool) throws OutputBufferException {
        return HostCommands.check(List.of(ip.toString(), "netns", "exec", A, tool, "-S", "FORWARD"),
                "list the FORWARD chain").out();
    }

    private long nfqueueRules(String tool) throws OutputBufferException {
        return rules(tool).lines().filter(l -> l.contains("-j NFQUEUE")).count();
    }

    /** The queue the IPv4 rule for {@code dev} feeds (there must be exactly one such rule). */
    private int queueOf(String dev) throws OutputBufferException {
        List<NfqueueRules.Rule> found = NfqueueRules.parse(rules("iptables")).feeding(dev);
        assertEquals(1, found.size(), "one rule for " + dev + ": " + rules("iptables"));
        return found.get(0).firstQueue();
    }

    private void sendMany(int phase, int n) throws IOException {
        for (int i = 0; i < n; i++) {
            send(phase, i);
        }
    }

    private GuestInterface nic() {
        return new GuestInterface("net0", "52:54:00:12:34:56", "tap", TAP, A);
    }

    @Test
    void outputLeavesOnlyAfterItsEpochWasReleased() throws Exception {
        // warm-up without a buffer: the path works and ARP is resolved
        send(0, 0);
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(0) == 1);

        buffer = provider.attach(nic());
        assertTrue(rules("iptables").contains("-m physdev --physdev-in " + TAP + " -j NFQUEUE --queue-num"),
                "IPv4 rule installed: " + rules("iptables"));
        assertTrue(rules("ip6tables").contains("--physdev-in " + TAP + " -j NFQUEUE"), "IPv6 rule installed");

        // ---- phase 1: epochs of 20 ms, each released three epochs (~60 ms) after its seal ----
        int count = 1500;
        long[] sent = new long[count];
        Thread guest = new Thread(() -> {
            try {
                for (int i = 0; i < count; i++) {
                    sent[i] = send(1, i);
                    LockSupport.parkNanos(MS);
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, "test-guest");
        guest.start();
        int lag = 3;
        long[] sealedAt = new long[1000];
        long[] releaseCalledAt = new long[1000];
        int epoch = 0;
        int lastWithOutput = 0;
        while (lastWithOutput == 0 || epoch - lag < lastWithOutput) {
            boolean sending = guest.isAlive();
            Thread.sleep(20); // not parkNanos: a stale permit would end an epoch early
            epoch++;
            buffer.seal(epoch);
            sealedAt[epoch] = System.nanoTime();
            if (epoch > lag) {
                releaseCalledAt[epoch - lag] = System.nanoTime();
                buffer.release(epoch - lag);
            }
            if (!sending && lastWithOutput == 0) {
                lastWithOutput = epoch;
            }
        }
        guest.join();
        buffer.release(epoch); // the trailing epochs are empty
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(1) == count);

        // I1: a datagram that arrived at t was sent before the seal of an epoch whose release was called before t
        long[] latency = new long[count];
        for (int i = 0; i < count; i++) {
            long t = arrivals.get(key(1, i));
            int released = 0;
            for (int e = 1; e <= epoch; e++) {
                if (releaseCalledAt[e] != 0 && releaseCalledAt[e] < t) {
                    released = e;
                }
            }
            if (released == 0 || sent[i] >= sealedAt[released]) {
                fail("datagram " + i + " arrived " + (t - sent[i]) / 1000 + " us after it was sent, before the epoch "
                        + "holding it was released (newest release before its arrival: epoch " + released + ")");
            }
            latency[i] = t - sent[i];
        }
        List<Integer> order = new ArrayList<>();
        for (long k : arrivalOrder) {
            if ((k >>> 32) == 1) {
                order.add((int) k);
            }
        }
        assertEquals(count, order.size(), "each datagram arrived once");
        for (int i = 1; i < order.size(); i++) {
            assertTrue(order.get(i) > order.get(i - 1), "order kept: " + order.get(i - 1) + " then " + order.get(i));
        }
        long minHold = Long.MAX_VALUE;
        for (int e = 1; e <= epoch; e++) {
            if (releaseCalledAt[e] != 0) {
                minHold = Math.min(minHold, releaseCalledAt[e] - sealedAt[e]);
            }
        }
        long[] sorted = latency.clone();
        Arrays.sort(sorted);
        LOG.info("held output: {} datagrams over {} epochs of 20 ms released {} epochs later (seal to release at "
                + "least {} ms); latency ms: min {} median {} p99 {} max {}", count, epoch, lag, minHold / 1e6,
                sorted[0] / 1e6, sorted[count / 2] / 1e6, sorted[count * 99 / 100] / 1e6, sorted[count - 1] / 1e6);
        assertTrue(sorted[0] >= minHold, "no datagram got through faster than the shortest seal-to-release delay "
                + minHold / 1e6 + " ms (min " + sorted[0] / 1e6 + " ms)");
        OutputBufferStats s = buffer.stats();
        assertEquals("nfqueue", s.implementation());
        assertEquals(count, s.packetsQueued(), "only the guest's UDP datagrams were held: " + s);
        assertEquals(count * (20L + 8 + PAYLOAD), s.bytesQueued(), "IPv4 + UDP + payload bytes: " + s);
        assertEquals(count, s.packetsReleased());
        assertEquals(0, s.epochsOutstanding());

        // ---- phase 2: pass-through lets output go at once ----
        buffer.passThrough();
        int passCount = 200;
        long[] passSent = new long[passCount];
        for (int i = 0; i < passCount; i++) {
            passSent[i] = send(2, i);
            LockSupport.parkNanos(MS);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(2) == passCount);
        long passMax = 0;
        long[] passLatency = new long[passCount];
        for (int i = 0; i < passCount; i++) {
            passLatency[i] = arrivals.get(key(2, i)) - passSent[i];
            passMax = Math.max(passMax, passLatency[i]);
        }
        Arrays.sort(passLatency);
        LOG.info("pass-through: {} datagrams, latency ms: median {} max {}", passCount,
                passLatency[passCount / 2] / 1e6, passMax / 1e6);
        assertTrue(passMax < 20 * MS, "pass-through output is not held (max " + passMax / 1e6 + " ms)");

        // ---- phase 3: buffering again; a discarded epoch never leaves ----
        buffer.resumeBuffering();
        for (int i = 0; i < 50; i++) {
            send(3, i);
        }
        assertNoneArrive(Duration.ofMillis(300), "held again after resumeBuffering", 3);
        await().atMost(Duration.ofSeconds(2)).until(() -> buffer.stats().packetsQueued() == count + 50);
        buffer.seal(++epoch);
        buffer.discard();
        assertEquals(50, buffer.stats().packetsDropped());
        buffer.release(epoch);
        assertNoneArrive(Duration.ofMillis(200), "discarded output was dropped, not released", 3);

        // ---- phase 4: close drops what is held and removes the rules ----
        for (int i = 0; i < 30; i++) {
            send(4, i);
        }
        await().atMost(Duration.ofSeconds(2)).until(() -> buffer.stats().packetsQueued() == count + 80);
        buffer.seal(++epoch);
        buffer.close();
        assertEquals(80, buffer.stats().packetsDropped());
        assertFalse(rules("iptables").contains("NFQUEUE"), "IPv4 rule removed: " + rules("iptables"));
        assertFalse(rules("ip6tables").contains("NFQUEUE"), "IPv6 rule removed: " + rules("ip6tables"));
        assertEquals(0, provider.attachedCount());
        assertNoneArrive(Duration.ofMillis(300), "held output was dropped at close, not released", 4);

        // ---- phase 5: the namespace is as it was: output flows unheld ----
        for (int i = 0; i < 10; i++) {
            send(5, i);
        }
        await().atMost(Duration.ofSeconds(2)).until(() -> arrived(5) == 10);
        buffer = null;
    }

    @Test
    void detachedOutputStaysHeldAndGoesWithTheFirstEpochTheNextAttachReleases() throws Exception {
        send(0, 0);
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(0) == 1);

        OutputBuffer first = provider.attach(nic());
        buffer = first;
        sendMany(1, 20);
        await().atMost(Duration.ofSeconds(2)).until(() -> first.stats().packetsQueued() == 20);
        first.seal(7);
        first.detach();
        sendMany(2, 20); // while no engine drives the buffer
        first.release(7);
        first.passThrough();
        assertNoneArrive(Duration.ofMillis(300), "nothing leaves while detached, whatever the old handle is told",
                1, 2);

        OutputBuffer second = provider.attach(nic());
        buffer = second;
        OutputBufferException twice = assertThrows(OutputBufferException.class, () -> provider.attach(nic()));
        assertTrue(twice.getMessage().contains("attached and not detached"), twice.getMessage());
        assertEquals(1, nfqueueRules("iptables"), "the same rule: " + rules("iptables"));
        assertEquals(1, nfqueueRules("ip6tables"));
        await().atMost(Duration.ofSeconds(2)).until(() -> second.stats().packetsQueued() == 40);
        second.seal(1); // the adopting engine counts afresh
        sendMany(3, 10);
        assertNoneArrive(Duration.ofMillis(200), "held until the first adopted epoch is released", 1, 2, 3);
        second.release(1);
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(1) == 20 && arrived(2) == 20);
        assertNoneArrive(Duration.ofMillis(200), "output after the seal of epoch 1 waits for epoch 2", 3);
        second.seal(2);
        second.release(2);
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(3) == 10);

        first.close();
        assertEquals(1, nfqueueRules("iptables"), "closing the detached handle removes nothing");
        second.close();
        assertEquals(0, nfqueueRules("iptables"), "closing the adopting handle removes the rule");
        assertEquals(0, nfqueueRules("ip6tables"));
        buffer = null;
    }

    /** After a warm-up datagram: attaches {@link #nic()} to {@code p}, holds 20 datagrams of phase 1, seals epoch 1. */
    private OutputBuffer attachAndHoldOneEpoch(NfqueueProvider p) throws Exception {
        send(0, 0);
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(0) == 1);
        OutputBuffer b = p.attach(nic());
        buffer = b;
        sendMany(1, 20);
        await().atMost(Duration.ofSeconds(2)).until(() -> b.stats().packetsQueued() == 20);
        b.seal(1);
        return b;
    }

    @Test
    void aNewProviderAdoptsTheRuleTheOldOneLeftAndNothingLeavesInBetween() throws Exception {
        OutputBuffer old = attachAndHoldOneEpoch(provider);
        int queue = queueOf(TAP);

        provider.deactivate(); // the bundle is updated: nothing of this instance survives
        assertEquals(1, nfqueueRules("iptables"), "the rule stays: " + rules("iptables"));
        assertEquals(1, nfqueueRules("ip6tables"), "the IPv6 rule stays: " + rules("ip6tables"));
        assertFalse(rules("iptables").contains("--queue-bypass"), "with nobody on the queue the kernel drops");
        sendMany(2, 20); // the gap
        old.release(1);
        old.close();
        assertEquals(1, nfqueueRules("iptables"), "the old engine's late close removes nothing");
        assertNoneArrive(Duration.ofMillis(300), "nothing held or sent across the update left", 1, 2);

        NfqueueProvider updated = new NfqueueProvider(NfqueueSettings.defaults(), lib);
        OutputBuffer other = updated.attach(new GuestInterface("net1", null, "tap", "rnbout0", A));
        try {
            assertTrue(queueOf("rnbout0") != queue, "another interface never gets the queue the left rule feeds ("
                    + queue + "): " + rules("iptables"));
            buffer = updated.attach(nic());
            assertEquals(queue, queueOf(TAP), "the left rule adopted, no second one added: " + rules("iptables"));
            assertEquals(2, nfqueueRules("iptables"), "one rule for each of the two interfaces");
            assertEquals(2, nfqueueRules("ip6tables"));
            OutputBuffer adopted = buffer;
            sendMany(3, 20);
            await().atMost(Duration.ofSeconds(2)).until(() -> adopted.stats().packetsQueued() == 20);
            assertEquals(0, arrived(3), "held by the new provider");
            adopted.seal(1);
            adopted.release(1);
            await().atMost(Duration.ofSeconds(5)).until(() -> arrived(3) == 20);
            assertEquals(0, arrived(1) + arrived(2), "what the kernel held across the update was dropped");

            adopted.close();
            buffer = null;
            assertEquals(1, nfqueueRules("iptables"), "close removes the adopted rule: " + rules("iptables"));
        } finally {
            other.close();
        }
        assertEquals(0, nfqueueRules("iptables"));
        assertEquals(0, nfqueueRules("ip6tables"));
        sendMany(5, 10);
        await().atMost(Duration.ofSeconds(2)).until(() -> arrived(5) == 10);
    }

    /**
     * A bundle update with hand-over: the engine lets go of the buffer (its provider's service goes away), the old
     * provider hands its queue over, the new one takes it over and the engine's next attach adopts it. Nothing held
     * or sent across the update leaves before the first epoch sealed after the adoption is released, and nothing is
     * dropped: the held output leaves at that release, with no retransmission for the guest to wait for.
     */
    @Test
    void anUpdatedProviderTakesTheQueueOverAndDropsNothing(@TempDir Path dir) throws Exception {
        Path file = dir.resolve(NfqueueProvider.HANDOVER_FILE);
        NfqueueProvider old = new NfqueueProvider(NfqueueSettings.defaults(), lib, file);
        OutputBuffer first = attachAndHoldOneEpoch(old);
        int queue = queueOf(TAP);
        sendMany(2, 20);
        await().atMost(Duration.ofSeconds(2)).until(() -> first.stats().packetsQueued() == 40);

        long update = System.nanoTime();
        old.deactivate(); // the bundle is updated
        long handedOver = System.nanoTime();
        assertTrue(Files.isRegularFile(file), "the queue is handed over through " + file);
        assertEquals(1, nfqueueRules("iptables"), "the rule stays: " + rules("iptables"));
        sendMany(3, 20); // the gap: queued in the kernel, nobody reads
        first.release(1); // a late ACK to the let-go buffer
        first.close();
        assertEquals(1, nfqueueRules("iptables"), "the old engine's late close removes nothing");
        assertNoneArrive(Duration.ofMillis(300), "nothing held or sent across the update left", 1, 2, 3);

        NfqueueProvider updated = new NfqueueProvider(NfqueueSettings.defaults(), lib, file);
        assertFalse(Files.exists(file), "a descriptor is taken over once");
        assertEquals(1, updated.attachedCount(), "the queue is held, detached, before any attach");
        long attachStart = System.nanoTime();
        OutputBuffer adopted = updated.attach(nic());
        long attachNanos = System.nanoTime() - attachStart;
        buffer = adopted;
        assertEquals(queue, queueOf(TAP), "the same queue and rule: " + rules("iptables"));
        assertEquals(1, nfqueueRules("iptables"));
        assertEquals(1, nfqueueRules("ip6tables"));
        await().atMost(Duration.ofSeconds(2)).until(() -> adopted.stats().packetsQueued() == 60);
        adopted.seal(1); // the adopting engine's first epoch takes everything held
        sendMany(4, 10);
        assertNoneArrive(Duration.ofMillis(200), "held until the first adopted epoch is released", 1, 2, 3, 4);
        long release = System.nanoTime();
        adopted.release(1);
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(1) == 20 && arrived(2) == 20 && arrived(3) == 20);
        long lastArrival = 0;
        for (int phase = 1; phase <= 3; phase++) {
            for (int i = 0; i < 20; i++) {
                lastArrival = Math.max(lastArrival, arrivals.get(key(phase, i)));
            }
        }
        LOG.info("hand-over: deactivate {} ms, attach (adopt) {} ms; the held output left {} ms after the release "
                + "that freed it", (handedOver - update) / 1e6, attachNanos / 1e6, (lastArrival - release) / 1e6);
        assertTrue(lastArrival - release < 100 * MS, "the held output left at the release, not after a "
                + "retransmission: " + (lastArrival - release) / 1e6 + " ms");
        assertTrue(attachNanos < 100 * MS, "adopting a queue taken over forks nothing: " + attachNanos / 1e6 + " ms");
        assertTrue(handedOver - update < 1000 * MS, "deactivation: " + (handedOver - update) / 1e6 + " ms");
        assertNoneArrive(Duration.ofMillis(200), "output after the seal of epoch 1 waits for epoch 2", 4);
        adopted.seal(2);
        adopted.release(2);
        await().atMost(Duration.ofSeconds(5)).until(() -> arrived(4) == 10);
        assertEquals(70, adopted.stats().packetsReleased(), "counted across the update: " + adopted.stats());

        adopted.close();
        buffer = null;
        assertEquals(0, nfqueueRules("iptables"), "close removes the rules taken over: " + rules("iptables"));
        assertEquals(0, nfqueueRules("ip6tables"));
        assertEquals(0, updated.attachedCount());
        sendMany(5, 10);
        await().atMost(Duration.ofSeconds(2)).until(() -> arrived(5) == 10);
    }

    @Test
    void refusesWhatItCannotHold() {
        OutputBufferException notAPort = assertThrows(OutputBufferException.class,
                () -> provider.attach(new GuestInterface("net0", null, "tap", "eth0", G)));
        assertTrue(notAPort.getMessage().contains("not a port of a Linux bridge"), notAPort.getMessage());

        OutputBufferException noNamespace = assertThrows(OutputBufferException.class,
                () -> provider.attach(new GuestInterface("net0", null, "tap", TAP, "rnb-" + PID + "-missing")));
        assertTrue(noNamespace.getMessage().contains("does not exist"), noNamespace.getMessage());

        OutputBufferException noDevice = assertThrows(OutputBufferException.class,
                () -> provider.attach(new GuestInterface("net0", null, "tap", "rnbnone0", A)));
        assertTrue(noDevice.getMessage().contains("does not exist"), noDevice.getMessage());

        assertFalse(provider.supports(new GuestInterface("net0", null, "sim", "x", null)));
        assertTrue(provider.supports(new GuestInterface("net0", null, "vif", "vif3.0", null)), "a Xen vif");
        assertTrue(provider.supports(nic()));
    }
}
