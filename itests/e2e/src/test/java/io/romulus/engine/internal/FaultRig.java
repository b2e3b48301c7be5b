package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The set-up of {@link FaultInjectionTest} and {@link SoakTest}: netlab hosts, an optional ZooKeeper witness in the
 * client's namespace, node A (10.77.0.1) and node B (10.77.0.2) as {@link NodeProcess}es, the demo guest protected
 * on A at 40 Hz with its output in an NFQUEUE, and a client holding one TCP connection that increments the guest's
 * counter every 50 ms.
 */
@SuppressWarnings("try") // close() may be interrupted; these are test fixtures
final class FaultRig implements AutoCloseable {

    static final String DOMAIN = "qemu:ha";
    static final String A_IP = "10.77.0.1";
    static final String B_IP = "10.77.0.2";
    static final String ZOOKEEPER = "10.77.0.100:2181";

    final Path run = Path.of("/dev/shm", "romulus-faults-" + ProcessHandle.current().pid());
    Path dir;
    NetLab lab;
    Process zookeeper;
    NodeProcess a;
    NodeProcess b;
    Process client;
    final List<long[]> values = new CopyOnWriteArrayList<>(); // value, received nanos, the client's wait (ns)
    final List<String> errors = new CopyOnWriteArrayList<>();
    /** The ZooKeeper server's tickTime: sessions may last 2 to 20 ticks. */
    int zooKeeperTickMs = 500;
    /**
     * Whether the hosts send packets of one segment each (no GSO, set before the nodes connect): a loss on the switch
     * then drops one packet, as on a real link, rather than a GSO burst of up to 64 KB.
     */
    boolean perPacket;
    /** The hosts' default TCP congestion control (empty: the machine's), e.g. Debian's cubic. */
    String hostCongestion = "";
    /** Seconds between two of the client's increments. */
    String clientInterval = "0.05";
    /** Values taken by checkClient's probes, which the client's own connection therefore skips. */
    final List<Long> probes = new CopyOnWriteArrayList<>();
    /**
     * Seconds between two new connections of the second client (scripts/connect-client.py: connect, "get", close),
     * or null for none; it starts with the counting client.
     */
    String connectInterval;
    Process connectClient;
    /** The second client's attempts: started, connected, answered (ns, this clock; -1 for a failed attempt). */
    final List<long[]> connects = new CopyOnWriteArrayList<>();
    /** The second client's failed attempts: when each started (ns) and why. */
    final List<String> connectFailures = new CopyOnWriteArrayList<>();

    @Override
    public void close() throws Exception {
        for (Process p : new Process[] {client, connectClient}) {
            if (p != null) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
        for (NodeProcess n : new NodeProcess[] {a, b}) {
            if (n != null) {
                n.close();
            }
        }
        if (zookeeper != null) {
            zookeeper.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        if (lab != null) {
            lab.close();
        }
        new ProcessBuilder("rm", "-rf", run.toString()).start().waitFor(30, TimeUnit.SECONDS);
    }

    /** Where a process's log goes: target/fault-logs/, kept after the test. */
    static Path log(String name) throws IOException {
        Path logs = Files.createDirectories(Path.of("target", "fault-logs"));
        return logs.resolve(name + "-" + System.currentTimeMillis() + ".log");
    }

    /** The stream's shared secret: the first node to start creates it, the others read it. */
    Path secret() {
        return dir.resolve("stream.secret");
    }

    /** Hosts, witness, two nodes, the guest protected on A, the client connected and counting. */
    void start(Path tempDir, boolean witness, String load) throws Exception {
        dir = tempDir;
        lab = NetLab.up();
        for (String host : List.of(lab.primaryHost(), lab.backupHost())) {
            if (perPacket) {
                lab.run(List.of("ip", "-n", host, "link", "set", "br0", "gso_max_segs", "1"));
            }
            if (!hostCongestion.isEmpty()) {
                lab.run(List.of("ip", "netns", "exec", host, "sysctl", "-q", "-w",
                        "net.ipv4.tcp_congestion_control=" + hostCongestion));
            }
        }
        String zk = "";
        if (witness) {
            zookeeper = startZooKeeper();
            zk = ZOOKEEPER;
        }
        a = NodeProcess.start(lab.primaryHost(), "node-a", A_IP, run.resolve("a"), secret(), zk, log("node-a"));
        b = NodeProcess.start(lab.backupHost(), "node-b", B_IP, run.resolve("b"), secret(), zk, log("node-b"));
        a.must("protect " + DOMAIN + " " + B_IP + ":7480 25 memory=128M,nic=tap," + load);
        Path console = run.resolve("a").resolve("ha").resolve("console.log");
        await().atMost(Duration.ofMinutes(2)).until(() -> Files.exists(console)
                && Files.readString(console, StandardCharsets.ISO_8859_1).contains("ROMULUS-GUEST-READY"));
        awaitState(a, "PRIMARY", "PROTECTED", 120);
        client = lab.inClient(List.of("python3", "-u", counterClient(), NetLab.GUEST_IP, "7000", clientInterval));
        Thread t = new Thread(this::readClient, "counter-client");
        t.setDaemon(true);
        t.start();
        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= 40 || !errors.isEmpty());
        assertEquals(List.of(), errors);
        if (connectInterval != null) {
            connectClient = lab.inClient(List.of("python3", "-u", script("connect-client.py"), NetLab.GUEST_IP, "7000",
                    connectInterval));
            Thread c = new Thread(this::readConnects, "connect-client");
            c.setDaemon(true);
            c.start();
            await().atMost(Duration.ofSeconds(60)).until(() -> connects.size() >= 20);
        }
    }

    Process startZooKeeper() throws Exception {
        Path data = dir.resolve("zookeeper");
        Files.createDirectories(data);
        String java = ProcessHandle.current().info().command().orElse("java");
        Process zk = new ProcessBuilder("ip", "netns", "exec", lab.client(), java, "-Xmx256m",
                "-Dzookeeper.admin.enableServer=false", "-cp", System.getProperty("java.class.path"),
                "org.apache.zookeeper.server.ZooKeeperServerMain", "2181", data.toString(),
                Integer.toString(zooKeeperTickMs))
                .redirectErrorStream(true).redirectOutput(log("zookeeper").toFile()).start();
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            Process probe = lab.inClient(List.of("bash", "-c", "exec 3<>/dev/tcp/10.77.0.100/2181"));
            return probe.waitFor(5, TimeUnit.SECONDS) && probe.exitValue() == 0;
        });
        return zk;
    }

    static String counterClient() {
        return script("counter-client.py");
    }

    private static String script(String name) {
        return Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve(name).toAbsolutePath()
                .normalize().toString();
    }

    /** Reads the second client's lines: its attempts (the script's clock is System.nanoTime's, CLOCK_MONOTONIC). */
    private void readConnects() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(connectClient.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] f = line.split(" ", 3);
                if (line.startsWith("conn ")) {
                    String[] g = line.split(" ");
                    connects.add(new long[] {Long.parseLong(g[1]), Long.parseLong(g[2]), Long.parseLong(g[3])});
                } else if (line.startsWith("connfail ")) {
                    connects.add(new long[] {Long.parseLong(f[1]), -1, -1});
                    connectFailures.add(line.substring("connfail ".length()));
                }
            }
        } catch (IOException e) {
            connectFailures.add("reading the second client: " + e);
        }
    }

    /**
     * New connections around {@code at}: the longest time between two answers the second client got from a second
     * before {@code at} to {@code seconds} after it (the blackout on new connections), the slowest attempt started in
     * that window (connect to answer, ms), and how many of those attempts failed.
     */
    NewConnections newConnections(long at, int seconds) {
        if (connectClient == null) {
            return new NewConnections(-1, -1, -1, "");
        }
        long end = at + TimeUnit.SECONDS.toNanos(seconds + 1);
        await().atMost(Duration.ofSeconds(seconds + 30)).pollInterval(Duration.ofMillis(50))
                .until(() -> System.nanoTime() > end && connects.stream().anyMatch(c -> (c[0] > end - TimeUnit.SECONDS
                        .toNanos(1) && c[2] >= 0) || c[0] > end));
        long from = at - TimeUnit.SECONDS.toNanos(1);
        long to = at + TimeUnit.SECONDS.toNanos(seconds);
        long[] answered = connects.stream().filter(c -> c[2] >= 0).mapToLong(c -> c[2]).filter(t -> t >= from)
                .sorted().toArray();
        long gap = 0;
        long previous = from;
        for (long t : answered) {
            gap = Math.max(gap, t - previous);
            previous = t;
            if (t > to) {
                break;
            }
        }
        long slowest = 0;
        int failed = 0;
        for (long[] c : connects) {
            if (c[0] < from || c[0] > to) {
                continue;
            }
            if (c[2] < 0) {
                failed++;
            } else {
                slowest = Math.max(slowest, c[2] - c[0]);
            }
        }
        // why they failed: each reason once, with how often ("started ns, reason" lines of the client)
        Map<String, Long> why = connectFailures.stream().map(f -> f.split(" ", 2))
                .filter(f -> f.length == 2 && Long.parseLong(f[0]) >= from && Long.parseLong(f[0]) <= to)
                .collect(Collectors.groupingBy(f -> f[1], TreeMap::new, Collectors.counting()));
        return new NewConnections(ms(gap), ms(slowest), failed, why.toString());
    }

    /** The second client's figures around a failover or switchover, in ms; see {@link #newConnections}. */
    record NewConnections(long longestWithoutAnswer, long slowest, long failed, String failures) {
    }

    void readClient() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith("value ")) {
                    // value, when it arrived here, and how long the client waited for it (its own clocks)
                    String[] f = line.split(" ");
                    long wait = f.length > 3 ? Long.parseLong(f[3]) - Long.parseLong(f[2]) : -1;
                    values.add(new long[] {Long.parseLong(f[1]), System.nanoTime(), wait});
                } else if (line.startsWith("error")) {
                    errors.add(line);
                }
            }
        } catch (IOException e) {
            errors.add("reading the client: " + e);
        }
    }

    void iptables(String netns, String op, List<List<String>> rules) throws Exception {
        for (List<String> rule : rules) {
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", netns, "iptables", op));
            cmd.addAll(rule);
            lab.run(cmd);
        }
    }

    long awaitState(NodeProcess n, String role, String state, int seconds) {
        await().atMost(Duration.ofSeconds(seconds)).pollInterval(Duration.ofMillis(100))
                .until(() -> n.state(role).equals(state));
        return System.nanoTime();
    }

    long awaitReplyAfter(long nanos) {
        await().atMost(Duration.ofSeconds(60)).until(() -> !errors.isEmpty()
                || values.stream().anyMatch(v -> v[1] > nanos));
        assertEquals(List.of(), errors, "the client's connection survived");
        return values.stream().filter(v -> v[1] > nanos).mapToLong(v -> v[1]).min().orElseThrow();
    }

    long committed() throws IOException, InterruptedException {
        return b.status().stream().filter(r -> r.role().equals("BACKUP")).mapToLong(NodeProcess.Row::epoch)
                .findFirst().orElse(-1);
    }

    /**
     * I3/I5 on the client's connection, then a fresh probe (one increment on a connection of its own): more than the
     * last value seen. On the client's connection each answer is one more than the one before, except where a probe
     * took the value in between.
     */
    void checkClient() throws Exception {
        int n = values.size();
        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= n + 20 || !errors.isEmpty());
        assertEquals(List.of(), errors, "the client's connection survived");
        for (int i = 1; i < values.size(); i++) {
            long expected = values.get(i - 1)[0] + 1;
            while (probes.contains(expected)) {
                expected++;
            }
            if (expected != values.get(i)[0]) {
                StringBuilder around = new StringBuilder();
                for (int j = Math.max(0, i - 3); j < Math.min(values.size(), i + 3); j++) {
                    around.append(values.get(j)[0]).append(" at ").append(values.get(j)[1] / 1_000_000).append(" ms; ");
                }
                assertEquals(expected, values.get(i)[0], "one connection, one increment per answer: "
                        + around + "(test clock, ms)");
            }
        }
        long last = values.get(values.size() - 1)[0];
        Process p = lab.inClient(List.of("python3", counterClient(), NetLab.GUEST_IP, "7000", "0", "1"));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        long after = out.lines().filter(l -> l.startsWith("value ")).mapToLong(l -> Long.parseLong(l.split(" ")[1]))
                .findFirst().orElseThrow(() -> new AssertionError("no answer: " + out));
        probes.add(after);
        assertTrue(after > last, "I3: the counter is " + after + " after the client saw " + last);
    }

    /** The longest wait between two answers the client got from {@code from} to a little after {@code to}. */
    long maxGapMs(long from, long to) {
        long gap = 0;
        long previous = from;
        for (long[] v : values) {
            if (v[1] < from) {
                continue;
            }
            gap = Math.max(gap, v[1] - previous);
            previous = v[1];
            if (v[1] > to) {
                break;
            }
        }
        return ms(gap);
    }

    long firstAlarm(NodeProcess n) {
        return n.alarms.isEmpty() ? -1 : n.alarms.get(0).nanos();
    }

    static String alarmText(NodeProcess n, String kind) {
        return n.alarms.stream().filter(x -> x.kind().equals(kind)).map(NodeProcess.AlarmLine::message).findFirst()
                .orElse("-");
    }

    static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
