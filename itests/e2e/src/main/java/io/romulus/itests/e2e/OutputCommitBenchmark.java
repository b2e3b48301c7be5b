package io.romulus.itests.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.NetworkNamespace;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;

/**
 * The output commit benchmark of the NFQUEUE output buffer, in network namespaces it creates and removes: a guest
 * namespace G whose veth is a port of a bridge in namespace A (that port stands for the guest's tap, whose output the
 * buffer holds) and a receiver namespace R on the same bridge. All timestamps are {@link System#nanoTime()}
 * (CLOCK_MONOTONIC) in this one JVM. It prints, side by side from one run:
 * <ul>
 * <li>latency added per packet: UDP datagrams sent at a steady rate while an epoch is sealed every interval and
 * released one simulated ACK delay later, beside the same traffic unbuffered ({@code passThrough});</li>
 * <li>throughput of a released burst: datagrams sent into a sealed, held epoch and let go with one {@code release},
 * beside the same burst unbuffered ({@code passThrough}: still through the queue, one verdict per receive) and with
 * no buffer attached at all, with the losses (a datagram the queue dropped is a loss, never an early delivery).</li>
 * </ul>
 * Run it as root with {@code scripts/bench-netbuf [--intervals 10,25,50] [--ack-ms 1] [--rate 2000] [--seconds 3]
 * [--burst 20000] [--queue-maxlen 16384]}.
 */
public final class OutputCommitBenchmark {

    private static final long PID = ProcessHandle.current().pid();
    private static final String A = "rob-" + PID + "-a";
    private static final String G = "rob-" + PID + "-g";
    private static final String R = "rob-" + PID + "-r";
    private static final String TAP = "robtap0";
    private static final String GUEST_IP = "10.97.0.10";
    private static final String RECEIVER_IP = "10.97.0.20";
    private static final int PORT = 9000;
    /** Datagrams of the latency runs: run id, sequence number, send time, padding. */
    private static final int SMALL = 64;
    private static final int LARGE = 1400;
    private static final long MS = 1_000_000L;
    private static final long QUIET = 500 * MS;

    /** One measured run: what the receiving thread saw of it (single writer; readers go through {@link #received}). */
    private static final class Run {
        final int id;
        final long[] sentAt;
        final long[] arrivedAt;
        volatile int received;
        volatile long lastArrival;
        /** When the measured time starts (the first send, or the release). */
        long origin;

        Run(int id, int count) {
            this.id = id;
            this.sentAt = new long[count];
            this.arrivedAt = new long[count];
        }

        int count() {
            return arrivedAt.length;
        }
    }

    /** Drops counted by the kernel, read before and after a burst. */
    private record Drops(long queue, long receiverSocket) {
        Drops minus(Drops before) {
            return new Drops(queue - before.queue, receiverSocket - before.receiverSocket);
        }
    }

    /** Median, p99 and max one-way latency in ms of what arrived, and how many did not. */
    private record Latency(double median, double p99, double max, int lost) {
    }

    private final LinuxNetlink lib;
    private final Path ip;
    private final AtomicBoolean tornDown = new AtomicBoolean();
    private DatagramChannel sender;
    private DatagramChannel receiver;
    private OutputBuffer buffer;
    private volatile Run current;
    private int runs;
    private long epoch;

    private OutputCommitBenchmark(LinuxNetlink lib, Path ip) {
        this.lib = lib;
        this.ip = ip;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = BenchSupport.parse(args, List.of("intervals", "ack-ms", "rate", "seconds", "burst",
                "queue-maxlen"));
        int[] intervals = Arrays.stream(a.getOrDefault("intervals", "10,25,50").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int ackMs = Integer.parseInt(a.getOrDefault("ack-ms", "1"));
        int rate = Integer.parseInt(a.getOrDefault("rate", "2000"));
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "3"));
        int burst = Integer.parseInt(a.getOrDefault("burst", "20000"));
        int maxlen = Integer.parseInt(a.getOrDefault("queue-maxlen",
                Integer.toString(NfqueueSettings.DEFAULT_QUEUE_MAXLEN)));
        if (ackMs >= Arrays.stream(intervals).min().orElse(1)) {
            throw new IllegalArgumentException("--ack-ms must be shorter than the shortest interval");
        }

        OutputCommitBenchmark bench = new OutputCommitBenchmark(LinuxNetlink.load(), prerequisites());
        Thread hook = new Thread(bench::teardown, "bench-netbuf-teardown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            bench.network();
            NfqueueSettings settings = new NfqueueSettings(NfqueueSettings.DEFAULT_QUEUE_BASE, maxlen,
                    NfqueueSettings.DEFAULT_COPY_RANGE);
            bench.run(new NfqueueProvider(settings, bench.lib), intervals, ackMs, rate, seconds, burst, maxlen);
        } finally {
            bench.teardown();
            Runtime.getRuntime().removeShutdownHook(hook);
        }
    }

    private static Path prerequisites() throws Exception {
        for (String tool : List.of("ip", "iptables", "ip6tables", "sysctl")) {
            if (HostCommands.find(tool) == null) {
                throw new IllegalStateException(tool + " is not installed (scripts/prerequisites.sh installs it)");
            }
        }
        if (!"0".equals(HostCommands.run(List.of("id", "-u")).out().strip())) {
            throw new IllegalStateException("the output commit benchmark needs root (network namespaces, iptables, "
                    + "NFQUEUE)");
        }
        if (!Files.exists(Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables"))) {
            Path modprobe = HostCommands.find("modprobe");
            if (modprobe != null) {
                HostCommands.run(List.of(modprobe.toString(), "br_netfilter"));
            }
        }
        if (!Files.exists(Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables"))) {
            throw new IllegalStateException("br_netfilter is missing (no /proc/sys/net/bridge; modprobe br_netfilter"
                    + " or CONFIG_BRIDGE_NETFILTER)");
        }
        return HostCommands.find("ip");
    }

    private void sh(Object... argv) throws OutputBufferException {
        List<String> cmd = new ArrayList<>();
        for (Object o : argv) {
            cmd.add(o.toString());
        }
        HostCommands.check(cmd, "set up the benchmark network");
    }

    /** G (guest) and R (receiver), both on a bridge in A; G's port of the bridge is the "tap". */
    private void network() throws Exception {
        for (String ns : List.of(A, G, R)) {
            sh(ip, "netns", "add", ns);
        }
        sh(ip, "-n", A, "link", "add", "br0", "type", "bridge");
        sh(ip, "-n", A, "link", "set", "br0", "up");
        sh(ip, "-n", A, "link", "add", TAP, "type", "veth", "peer", "name", "eth0", "netns", G);
        sh(ip, "-n", A, "link", "add", "robout0", "type", "veth", "peer", "name", "eth0", "netns", R);
        for (String port : List.of(TAP, "robout0")) {
            sh(ip, "-n", A, "link", "set", port, "master", "br0");
            sh(ip, "-n", A, "link", "set", port, "up");
        }
        String[][] hosts = {{G, GUEST_IP + "/24"}, {R, RECEIVER_IP + "/24"}};
        for (String[] h : hosts) {
            sh(ip, "netns", "exec", h[0], "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
            sh(ip, "netns", "exec", h[0], "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1");
            sh(ip, "-n", h[0], "addr", "add", h[1], "dev", "eth0");
            sh(ip, "-n", h[0], "link", "set", "eth0", "up");
            sh(ip, "-n", h[0], "link", "set", "lo", "up");
        }
        // the guest's neighbour entry for the receiver stays valid for the whole run: no ARP stalls mid-measurement
        sh(ip, "-n", G, "neigh", "replace", RECEIVER_IP, "lladdr", mac(R), "dev", "eth0", "nud", "permanent");
        sh(ip, "-n", R, "neigh", "replace", GUEST_IP, "lladdr", mac(G), "dev", "eth0", "nud", "permanent");
        sender = NetworkNamespace.call(lib, G, () -> {
            DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET);
            c.setOption(StandardSocketOptions.SO_SNDBUF, 4 << 20);
            c.bind(new InetSocketAddress(GUEST_IP, 0));
            c.connect(new InetSocketAddress(RECEIVER_IP, PORT));
            return c;
        });
        InetSocketAddress from = (InetSocketAddress) sender.getLocalAddress();
        receiver = NetworkNamespace.call(lib, R, () -> {
            DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET);
            c.setOption(StandardSocketOptions.SO_RCVBUF, 64 << 20);
            c.bind(new InetSocketAddress(RECEIVER_IP, PORT));
            c.connect(from);
            return c;
        });
        Thread receiving = new Thread(this::receive, "bench-netbuf-receiver");
        receiving.setDaemon(true);
        receiving.start();
    }

    private String mac(String netns) throws OutputBufferException {
        String out = HostCommands.check(List.of(ip.toString(), "-n", netns, "-o", "link", "show", "eth0"),
                "read the MAC address of eth0 in " + netns).out();
        int at = out.indexOf("link/ether ");
        if (at < 0) {
            throw new OutputBufferException("no MAC address of eth0 in " + netns + ": " + out);
        }
        return out.substring(at + "link/ether ".length()).split("\\s+")[0];
    }

    /** Idempotent: closes the buffer (its rules and queue go) and the sockets, and removes the namespaces. */
    private void teardown() {
        if (!tornDown.compareAndSet(false, true)) {
            return;
        }
        if (buffer != null) {
            try {
                buffer.close();
            } catch (RuntimeException e) {
                System.err.println("closing the output buffer: " + e);
            }
        }
        for (DatagramChannel c : Arrays.asList(sender, receiver)) {
            if (c != null) {
                try {
                    c.close();
                } catch (IOException e) {
                    System.err.println("closing a socket: " + e);
                }
            }
        }
        for (String ns : List.of(G, R, A)) {
            if (Files.exists(Path.of(NetworkNamespace.NETNS_DIR, ns))) {
                try {
                    HostCommands.check(List.of(ip.toString(), "netns", "del", ns), "delete namespace " + ns);
                } catch (OutputBufferException e) {
                    System.err.println(e.getMessage());
                }
            }
        }
    }

    @SuppressWarnings("NonAtomicVolatileUpdate") // one writer (this thread); the volatile write publishes
    private void receive() {
        ByteBuffer b = ByteBuffer.allocateDirect(2048);
        try {
            while (true) {
                b.clear();
                receiver.read(b);
                long now = System.nanoTime();
                Run r = current;
                int seq = b.getInt(4);
                if (r == null || b.getInt(0) != r.id || seq < 0 || seq >= r.count()) {
                    continue; // a straggler of an earlier run
                }
                if (r.arrivedAt[seq] != 0) {
                    continue; // not expected of UDP on one link; counted once
                }
                r.sentAt[seq] = b.getLong(8);
                r.arrivedAt[seq] = now;
                r.lastArrival = now;
                r.received = r.received + 1; // publishes the arrays to whoever reads received the arrays to whoever reads received
            }
        } catch (ClosedChannelException e) {
            // teardown
        } catch (IOException e) {
            System.err.println("receiver: " + e);
        }
    }

    private Run start(int count) {
        Run r = new Run(++runs, count);
        current = r;
        return r;
    }

    private static void send(DatagramChannel channel, ByteBuffer b, Run r, int seq) throws IOException {
        b.clear();
        b.putInt(0, r.id).putInt(4, seq).putLong(8, System.nanoTime());
        channel.write(b);
    }

    private static void parkUntil(long deadline) {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            if (left > 200_000) {
                LockSupport.parkNanos(left - 100_000);
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /** Waits until {@code expected} datagrams of {@code r} arrived, or none arrived for {@link #QUIET}. */
    private static void awaitArrivals(Run r, int expected, long since) throws InterruptedException {
        while (r.received < expected) {
            long last = Math.max(since, r.lastArrival);
            if (System.nanoTime() - last > QUIET) {
                return;
            }
            Thread.sleep(1);
        }
    }

    /** A thread that sends {@code r.count()} small datagrams at {@code rate} per second. */
    private Thread paced(Run r, int rate) {
        Thread t = new Thread(() -> {
            ByteBuffer b = ByteBuffer.allocateDirect(SMALL);
            long period = 1_000_000_000L / rate;
            long t0 = System.nanoTime();
            try {
                for (int i = 0; i < r.count(); i++) {
                    parkUntil(t0 + i * period);
                    send(sender, b, r, i);
                }
            } catch (IOException e) {
                throw new IllegalStateException("sending from the guest namespace", e);
            }
        }, "bench-netbuf-guest");
        t.start();
        return t;
    }

    private static Latency latency(Run r) {
        int received = r.received;
        long[] l = new long[received];
        int n = 0;
        for (int i = 0; i < r.count() && n < received; i++) {
            if (r.arrivedAt[i] != 0) {
                l[n++] = r.arrivedAt[i] - r.sentAt[i];
            }
        }
        Arrays.sort(l);
        if (n == 0) {
            return new Latency(Double.NaN, Double.NaN, Double.NaN, r.count());
        }
        return new Latency(l[n / 2] / 1e6, l[Math.min(n - 1, (int) (n * 0.99))] / 1e6, l[n - 1] / 1e6,
                r.count() - n);
    }

    /** Steady traffic passing through unheld. */
    private Latency unbufferedLatency(int rate, int seconds) throws InterruptedException {
        buffer.passThrough();
        Run r = start(rate * seconds);
        Thread guest = paced(r, rate);
        guest.join();
        awaitArrivals(r, r.count(), System.nanoTime());
        buffer.resumeBuffering();
        return latency(r);
    }

    /** Steady traffic while an epoch is sealed every {@code interval} ms and released {@code ackMs} later. */
    private Latency heldLatency(int interval, int ackMs, int rate, int seconds) throws InterruptedException {
        Run r = start(rate * seconds);
        long t0 = System.nanoTime();
        Thread guest = paced(r, rate);
        int after = 0;
        for (long k = 1; after < 3; k++) {
            boolean sending = guest.isAlive();
            long sealAt = t0 + k * interval * MS;
            parkUntil(sealAt);
            buffer.seal(++epoch);
            parkUntil(sealAt + ackMs * MS);
            buffer.release(epoch);
            if (!sending) {
                after++; // what the queue had not yet handed over at the first seal after the end goes with the next
            }
        }
        guest.join();
        awaitArrivals(r, r.count(), System.nanoTime());
        return latency(r);
    }

    private Drops drops() throws OutputBufferException {
        long queue = 0;
        // per namespace: queue_number portid queue_total copy_mode copy_range queue_dropped user_dropped id_seq 1
        // absent until nfnetlink_queue is loaded (the first attach): nothing dropped there then
        HostCommands.Result q = HostCommands.run(HostCommands.inNetns(ip, A, "cat",
                "/proc/net/netfilter/nfnetlink_queue"));
        for (String line : q.ok() ? q.out().strip().split("\n") : new String[0]) {
            String[] f = line.strip().split("\\s+");
            if (f.length >= 7) {
                queue += Long.parseLong(f[5]) + Long.parseLong(f[6]);
            }
        }
        long socket = 0;
        String snmp = HostCommands.check(HostCommands.inNetns(ip, R, "cat", "/proc/net/snmp"),
                "read the receiver's UDP counters").out();
        String[] names = null;
        for (String line : snmp.split("\n")) {
            if (line.startsWith("Udp: ")) {
                String[] f = line.substring(5).strip().split("\\s+");
                if (names == null) {
                    names = f;
                } else {
                    for (int i = 0; i < names.length && i < f.length; i++) {
                        if (names[i].equals("RcvbufErrors")) {
                            socket = Long.parseLong(f[i]);
                        }
                    }
                }
            }
        }
        return new Drops(queue, socket);
    }

    /** Sends {@code burst} large datagrams as fast as possible; the run's time starts at the first send. */
    private Run burst(int burst, ByteBuffer big) throws IOException {
        Run r = start(burst);
        r.origin = System.nanoTime();
        for (int i = 0; i < burst; i++) {
            send(sender, big, r, i);
        }
        return r;
    }

    private static void burstRow(String label, Run r, long early, Drops d) {
        int received = r.received;
        double seconds = Math.max(1, r.lastArrival - r.origin) / 1e9;
        int lost = r.count() - received;
        System.out.printf("  %-24s %10.1f %9.1f %11.0f %9d %7d %7d %8d %7d %6d%n", label, seconds * 1e3,
                received == 0 ? 0.0 : (double) received * LARGE / 1e6 / seconds,
                received == 0 ? 0.0 : received / seconds, received, lost, d.queue(), d.receiverSocket(),
                Math.max(0, lost - d.queue() - d.receiverSocket()), early);
    }

    private void run(NfqueueProvider provider, int[] intervals, int ackMs, int rate, int seconds, int burst,
            int maxlen) throws Exception {
        // before the buffer is attached: the same burst with no NFQUEUE rule at all (after a warm-up of the JIT)
        ByteBuffer big = ByteBuffer.allocateDirect(LARGE);
        Run warm = burst(Math.min(burst, 2000), big);
        awaitArrivals(warm, warm.count(), System.nanoTime());
        Drops before = drops();
        Run bare = burst(burst, big);
        awaitArrivals(bare, burst, System.nanoTime());
        Drops bareDrops = drops().minus(before);

        buffer = provider.attach(new GuestInterface("net0", "52:54:00:12:34:56", "tap", TAP, A));
        System.out.printf("Romulus output commit benchmark: NFQUEUE output buffer on %s (guest veth G -> bridge in A"
                + " -> receiver R), queue maxlen %d, receiver SO_RCVBUF %d bytes; CLOCK_MONOTONIC, one JVM%n%n", TAP,
                maxlen, receiver.getOption(StandardSocketOptions.SO_RCVBUF));

        // warm-up: JIT, the queue's first verdicts
        buffer.passThrough();
        Run small = start(500);
        paced(small, 5000).join();
        awaitArrivals(small, small.count(), System.nanoTime());
        buffer.resumeBuffering();

        // 1. latency added per packet
        System.out.printf("Latency per packet, one-way ms (%d-byte UDP datagrams at %d/s for %d s per figure; held:"
                + " an epoch sealed every interval and released %d ms later, as on the backup's ACK)%n", SMALL, rate,
                seconds, ackMs);
        System.out.printf("  %8s | %8s %8s %8s | %8s %8s %8s | %11s %11s | %9s%n", "", "held", "", "", "unbuffered",
                "", "", "", "", "lost");
        System.out.printf("  %8s | %8s %8s %8s | %8s %8s %8s | %11s %11s | %9s%n", "interval", "median", "p99", "max",
                "median", "p99", "max", "med/interv", "expect ms", "held/unb");
        for (int interval : intervals) {
            Latency plain = unbufferedLatency(rate, seconds);
            Latency held = heldLatency(interval, ackMs, rate, seconds);
            System.out.printf("  %5d ms | %8.2f %8.2f %8.2f | %8.3f %8.3f %8.3f | %11.2f %11.1f | %9s%n", interval,
                    held.median(), held.p99(), held.max(), plain.median(), plain.p99(), plain.max(),
                    held.median() / interval, interval / 2.0 + ackMs, held.lost() + "/" + plain.lost());
        }
        System.out.printf("  expect = interval / 2 + ACK delay: a datagram waits on average half an epoch for the seal,"
                + " then the ACK.%n%n");

        // 2. throughput of a released burst
        System.out.printf("Burst of %d UDP datagrams of %d bytes sent as fast as possible (MB/s of payload)%n", burst,
                LARGE);
        System.out.printf("  %-24s %10s %9s %11s %9s %7s %7s %8s %7s %6s%n", "", "ms to last", "MB/s", "packets/s",
                "received", "lost", "queue", "rcvbuf", "other", "early");
        burstRow("no buffer (from send)", bare, 0, bareDrops);

        buffer.passThrough();
        before = drops();
        Run plain = burst(burst, big);
        awaitArrivals(plain, burst, System.nanoTime());
        burstRow("passThrough (from send)", plain, 0, drops().minus(before));
        buffer.resumeBuffering();

        buffer.seal(++epoch);
        buffer.release(epoch);
        before = drops();
        long queuedBefore = buffer.stats().packetsQueued();
        Run held = burst(burst, big);
        long sendNanos = System.nanoTime() - held.origin;
        // everything the queue will hand over is in before the seal (a datagram not yet received would be next epoch's)
        long queued = buffer.stats().packetsQueued() - queuedBefore;
        long stableSince = System.nanoTime();
        while (queued < burst && System.nanoTime() - stableSince < 300 * MS) {
            Thread.sleep(5);
            long now = buffer.stats().packetsQueued() - queuedBefore;
            if (now != queued) {
                queued = now;
                stableSince = System.nanoTime();
            }
        }
        buffer.seal(++epoch);
        long release = System.nanoTime();
        buffer.release(epoch);
        long releaseCall = System.nanoTime() - release;
        held.origin = release;
        awaitArrivals(held, burst, System.nanoTime());
        int early = 0;
        for (int i = 0; i < burst; i++) {
            if (held.arrivedAt[i] != 0 && held.arrivedAt[i] < release) {
                early++;
            }
        }
        burstRow("released (from release)", held, early, drops().minus(before));
        System.out.printf("  packet rate released / passThrough: %.2f, released / no buffer: %.2f; held burst: sent in"
                + " %.1f ms, %d of %d held in the queue at the seal, release() returned after %.1f ms%n",
                rate(held) / Math.max(1e-9, rate(plain)), rate(held) / Math.max(1e-9, rate(bare)), sendNanos / 1e6,
                queued, burst, releaseCall / 1e6);
        System.out.printf("  lost = queue (NFQUEUE overflow or its netlink socket full) + rcvbuf (receiver socket full)"
                + " + other (veth backlog); early = arrived before release() was called (must be 0)%n");
    }

    private static double rate(Run r) {
        return r.received / (Math.max(1, r.lastArrival - r.origin) / 1e9);
    }
}
