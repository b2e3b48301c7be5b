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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scale-out end to end (issue 9): the demo guest's read-only request ({@code get} on its counter) served by one, two
 * and three primary–backup pairs behind a real HAProxy driven through its runtime API, then one pair's primary host
 * killed under load, then scaled back to one pair under load.
 *
 * <p>Hosts (scripts/netlab up + pairs): node A (10.77.0.1), node B (10.77.0.2) and node D (10.77.0.3), each a {@link
 * NodeMain} in its namespace; HAProxy in the balancer's namespace (10.77.0.200:7000); the load in the client's. Every
 * pair has its own L2 segment (bridge rpK on each host) that forwards 10.78.K.1 to its guest, so the pairs' guests,
 * which all have the same addresses, never meet.
 *
 * <p>Pair 1 is {@code qemu:ro} protected from A to B on rp1. {@code scale} runs on B, which holds the committed
 * replica: pairs 2 and 3 start on B from that replica and are protected towards D, so that killing A (pair 1's
 * primary) leaves both hosts of pairs 2 and 3 alone. To tell the pairs apart in the answers, each new pair gets a
 * different number of {@code inc} on its own address before it is measured: a {@code get} answer's value says which
 * pair gave it.
 */
class ScaleOutTest {

    private static final Logger LOG = LoggerFactory.getLogger(ScaleOutTest.class);
    private static final String DOMAIN = "qemu:ro";
    private static final String LB_IP = "10.77.0.200";
    /** The load while pairs are measured: enough requests outstanding that the pairs, not the round trip, limit. */
    private static final int BENCH_CONNECTIONS = Integer.getInteger("scaleout.connections", 48);
    private static final int BENCH_DEPTH = Integer.getInteger("scaleout.depth", 32);
    /** The load while a primary dies and while scaling down: a steady stream of requests on every pair. */
    private static final int CONNECTIONS = 12;
    private static final int DEPTH = 2;

    @TempDir
    Path tmp;

    private final List<String> figures = new ArrayList<>();

    @Test
    void readOnlyPairsScaleBehindHaproxyAndOnePrimaryDiesUnderLoad() throws Exception {
        Path run = Path.of("/dev/shm", "romulus-scaleout-" + ProcessHandle.current().pid());
        NetLab lab = NetLab.up();
        Process haproxy = null;
        NodeProcess a = null;
        NodeProcess b = null;
        NodeProcess d = null;
        try {
            lab.run(List.of(Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve("netlab")
                    .toString(), "pairs", lab.prefix, "3"));
            Path socket = tmp.resolve("haproxy.sock");
            haproxy = startHaproxy(lab, socket);
            System.setProperty(NodeMain.SCALEOUT_API, socket.toString());
            System.setProperty(NodeMain.SCALEOUT_READ_ONLY, DOMAIN);
            System.setProperty(NodeMain.SCALEOUT_BACKUPS, "10.77.0.3:7480");
            System.setProperty(NodeMain.SCALEOUT_DRAIN_MS, "3000");
            Path secret = tmp.resolve("stream.secret");
            a = NodeProcess.start(lab.prefix + "-a", "node-a", "10.77.0.1", run.resolve("a"), secret, "",
                    FaultRig.log("scale-node-a"));
            Path logB = FaultRig.log("scale-node-b");
            b = NodeProcess.start(lab.prefix + "-b", "node-b", "10.77.0.2", run.resolve("b"), secret, "", logB);
            d = NodeProcess.start(lab.prefix + "-d", "node-d", "10.77.0.3", run.resolve("d"), secret, "",
                    FaultRig.log("scale-node-d"));
            NodeProcess nodeA = a;
            NodeProcess nodeB = b;
            NodeProcess nodeD = d;

            // a domain that was not declared read-only is refused, with the reason
            List<String> refused = b.command("scale qemu:other 2");
            assertTrue(refused.get(refused.size() - 1).contains("is not declared read-only"), refused.toString());

            a.must("protect " + DOMAIN + " 10.77.0.2:7480 25 memory=128M,nic=tap,bridge=rp1");
            Path console = run.resolve("a").resolve("ro").resolve("console.log");
            await().atMost(Duration.ofMinutes(2)).until(() -> Files.exists(console)
                    && Files.readString(console, StandardCharsets.ISO_8859_1).contains("ROMULUS-GUEST-READY"));
            await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200))
                    .until(() -> nodeA.state("PRIMARY").equals("PROTECTED")
                            && nodeB.state("BACKUP").equals("PROTECTED"));

            // the primary's node cannot clone: the committed checkpoint is on the backup
            List<String> notHere = a.command("scale " + DOMAIN + " 2");
            assertTrue(notHere.get(notHere.size() - 1).contains("holds no replica"), notHere.toString());

            // throughput with 1, 2 and 3 pairs, side by side in this run
            Map<Integer, Load> loads = new LinkedHashMap<>();
            for (int pairs = 1; pairs <= 3; pairs++) {
                long started = System.nanoTime();
                List<String> rows = b.command("scale " + DOMAIN + " " + pairs);
                assertEquals("ok " + pairs, rows.get(rows.size() - 1), rows.toString());
                long scaled = System.nanoTime();
                if (pairs > 1) {
                    figures.add(String.format(Locale.ROOT, "scale to %d pairs: %d ms (clone from the replica, "
                            + "initial copy to D, PROTECTED, server added)", pairs, ms(scaled - started)));
                    mark(lab, pairs, pairs - 1);
                }
                awaitAllUp(b, pairs);
                long[] idle0 = cpu();
                Thread.sleep(3000);
                long[] idle1 = cpu();
                long[] cpu0 = cpu();
                Load load = load(lab, 12, BENCH_CONNECTIONS, BENCH_DEPTH, null);
                long[] cpu1 = cpu();
                load.busy = busy(cpu0, cpu1);
                load.idleBusy = busy(idle0, idle1);
                assertEquals(List.of(), load.errors, "no request fails with " + pairs + " pairs");
                assertEquals(pairs, load.byValue.size(), "every pair answers (one value per pair): " + load.byValue);
                loads.put(pairs, load);
            }
            double one = loads.get(1).perSecond(2, 12);
            for (Map.Entry<Integer, Load> e : loads.entrySet()) {
                double rate = e.getValue().perSecond(2, 12);
                figures.add(String.format(Locale.ROOT, "%d pair(s): %.0f answers/s (%.2fx one pair), shares %s, "
                        + "%d requests outstanding, so %.0f ms per answer; host CPU %.0f%% busy (%d cores), %.0f%% "
                        + "with no load", e.getKey(), rate, rate / one, e.getValue().shares(),
                        BENCH_CONNECTIONS * BENCH_DEPTH, 1000.0 * BENCH_CONNECTIONS * BENCH_DEPTH / rate,
                        100 * e.getValue().busy, Runtime.getRuntime().availableProcessors(),
                        100 * e.getValue().idleBusy));
            }

            // kill pair 1's primary host under load: its pair fails over to B; pairs 2 and 3 (B -> D) go on
            long[] killedAt = new long[1];
            Load[] fresh = new Load[1];
            Thread freshLoad = new Thread(() -> {
                try {
                    fresh[0] = load(lab, 30, 4, 0, null);
                } catch (Exception e) {
                    LOG.error("the connection-per-request client failed", e);
                }
            }, "fresh-connections");
            freshLoad.start();
            Load kill = load(lab, 30, CONNECTIONS, DEPTH, at -> {
                if (at >= 8_000 && killedAt[0] == 0) {
                    try {
                        killedAt[0] = System.nanoTime();
                        nodeA.killHost();
                    } catch (IOException | InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> nodeB.raised("FAILOVER"));
            freshLoad.join(60_000);
            assertEquals(List.of(), kill.errors, "no request failed while pair 1's primary died");
            assertTrue(fresh[0] != null && fresh[0].total() > 0, "requests on new connections were answered");
            assertEquals(List.of(), fresh[0].errors, "no request on a new connection failed while pair 1's primary "
                    + "died (HAProxy's retries, redispatch and health checks)");
            figures.add(String.format(Locale.ROOT, "kill A: %d requests on a new connection each, 0 failed; longest "
                    + "wait for an answer %d ms", fresh[0].total(), fresh[0].longestGapAny(6_000, 20_000)));
            long pair1 = kill.valueOfPair(1);
            long pair1Gap = kill.longestGap(pair1, 6_000, 20_000);
            assertTrue(kill.answersAfter(pair1, 12_000) > 0, "pair 1 answers again after its failover");
            for (int k = 2; k <= 3; k++) {
                long v = kill.valueOfPair(k);
                long before = kill.longestGap(v, 1_000, 7_500);
                long during = kill.longestGap(v, 7_500, 20_000);
                figures.add(String.format(Locale.ROOT, "kill A: pair %d longest wait for an answer %d ms around the "
                        + "kill, %d ms before it (%.1fx)", k, during, before, (double) during / Math.max(1, before)));
                assertTrue(during < 2_000, "pair " + k + " is not affected by pair 1's failover: longest wait "
                        + during + " ms");
            }
            figures.add(String.format(Locale.ROOT, "kill A: pair 1 longest wait %d ms (its failover to B), 0 "
                    + "requests failed of %d", pair1Gap, kill.total()));
            // B, where pair 1 runs now, re-pointed its server and made it ready; the balancer has all three up again
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(logB, StandardCharsets.UTF_8)
                    .contains("Pair 1 of " + DOMAIN + " failed over to this node: server ro/p1 points at 10.78.1.1:7000"));
            awaitAllUp(b, 3);
            for (String clone : List.of(DOMAIN + "-p2", DOMAIN + "-p3")) {
                assertTrue(b.status().stream().anyMatch(r -> r.domain().equals(clone) && r.role().equals("PRIMARY")
                        && r.state().equals("PROTECTED")), clone + " stays PROTECTED on B: " + b.status());
            }

            // scale back to one pair under load: pairs 3 and 2 are drained and removed, pair 1's connections stay
            NodeProcess scaler = b;
            long[] down = new long[2];
            Load shrink = load(lab, 16, CONNECTIONS, DEPTH, at -> {
                if (at >= 3_000 && down[0] == 0) {
                    down[0] = System.nanoTime();
                    Thread t = new Thread(() -> {
                        try {
                            scaler.must("scale " + DOMAIN + " 1");
                            down[1] = System.nanoTime();
                        } catch (IOException | InterruptedException | AssertionError e) {
                            LOG.error("scaling down failed", e);
                        }
                    });
                    t.setDaemon(true);
                    t.start();
                }
            });
            assertTrue(down[1] > 0, "scaling down to one pair finished within the load's 16 s");
            for (String e : shrink.errors) {
                long last = Long.parseLong(e.split(" ")[2]);
                assertTrue(last != pair1, "only connections of the removed pairs end: " + e);
            }
            figures.add(String.format(Locale.ROOT, "scale down 3 -> 1 under load: %d ms (drain 3 s each); %d "
                    + "connections of pairs 2-3 cut at the end of their drain, none of pair 1's; pair 1 longest "
                    + "wait %d ms", ms(down[1] - down[0]), shrink.errors.size(), shrink.longestGap(pair1, 2_000,
                    14_000)));
            List<String> left = b.command("pairs");
            assertEquals(1, left.stream().filter(l -> l.startsWith("pair ")).count(), left.toString());
            assertTrue(b.status().stream().noneMatch(r -> r.domain().startsWith(DOMAIN + "-p")),
                    "the clones are retired: " + b.status());
            await().atMost(Duration.ofSeconds(30)).until(() -> nodeD.status().isEmpty());
        } finally {
            for (String p : List.of(NodeMain.SCALEOUT_API, NodeMain.SCALEOUT_READ_ONLY, NodeMain.SCALEOUT_BACKUPS,
                    NodeMain.SCALEOUT_DRAIN_MS)) {
                System.clearProperty(p);
            }
            Path out = Files.createDirectories(Path.of("target", "scale-out"));
            Files.write(out.resolve("figures.txt"), figures);
            figures.forEach(f -> LOG.info("FIGURE {}", f));
            for (NodeProcess n : new NodeProcess[] {a, b, d}) {
                if (n != null) {
                    n.close();
                }
            }
            if (haproxy != null) {
                haproxy.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            lab.close();
            new ProcessBuilder("rm", "-rf", run.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    private Process startHaproxy(NetLab lab, Path socket) throws Exception {
        Path haproxy = Path.of("/usr/sbin/haproxy");
        if (!Files.isExecutable(haproxy)) {
            throw new AssertionError("HAProxy is missing: install the Debian package haproxy (scripts/prerequisites.sh"
                    + " does)");
        }
        Path cfg = tmp.resolve("haproxy.cfg");
        Files.writeString(cfg, String.join("\n",
                "global",
                "    stats socket " + socket + " mode 600 level admin",
                "    stats timeout 30s",
                "defaults",
                "    mode tcp",
                "    timeout connect 1s",
                "    timeout client 120s",
                "    timeout server 120s",
                "    retries 3",
                "    option redispatch",
                "frontend counter",
                "    bind " + LB_IP + ":7000",
                "    default_backend ro",
                "backend ro",
                "    balance roundrobin",
                ""));
        Process p = new ProcessBuilder("ip", "netns", "exec", lab.prefix + "-lb", haproxy.toString(), "-db", "-f",
                cfg.toString()).redirectErrorStream(true).redirectOutput(FaultRig.log("haproxy").toFile()).start();
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(socket) || !p.isAlive());
        assertTrue(p.isAlive(), "HAProxy started (see target/fault-logs/haproxy-*.log)");
        return p;
    }

    /** Gives pair {@code k} {@code incs} increments on its own address, so its counter differs from the others'. */
    private static void mark(NetLab lab, int k, int incs) throws Exception {
        Process p = new ProcessBuilder("ip", "netns", "exec", lab.prefix + "-lb", "python3",
                FaultRig.counterClient(), "10.78." + k + ".1", "7000", "0", Integer.toString(incs))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "marking pair " + k + ": " + out);
    }

    private static void awaitAllUp(NodeProcess b, int pairs) {
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(250)).until(() -> {
            List<String> rows = b.command("pairs");
            return rows.stream().filter(l -> l.startsWith("pair ") && l.contains(" UP ")).count() == pairs;
        });
    }

    /** Runs the load client for {@code seconds} through the balancer; {@code onTick} sees each tick's time. */
    private static Load load(NetLab lab, int seconds, int connections, int depth,
            java.util.function.LongConsumer onTick) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = lab.inClient(List.of(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                LoadClient.class.getName(), LB_IP, "7000", Integer.toString(connections), Integer.toString(depth),
                Integer.toString(seconds)));
        Load load = new Load();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith("tick ")) {
                    String[] f = line.split(" ");
                    long at = Long.parseLong(f[1]);
                    Map<Long, Long> counts = new TreeMap<>();
                    for (int i = 2; i < f.length; i++) {
                        String[] kv = f[i].split("=");
                        counts.put(Long.parseLong(kv[0]), Long.parseLong(kv[1]));
                        load.byValue.merge(Long.parseLong(kv[0]), Long.parseLong(kv[1]), Long::sum);
                    }
                    load.ticks.add(new Tick(at, counts));
                    if (onTick != null) {
                        onTick.accept(at / 100 * 100);
                    }
                } else if (line.startsWith("error ")) {
                    load.errors.add(line);
                } else if (!line.startsWith("connected") && !line.startsWith("done")) {
                    load.errors.add("unexpected: " + line);
                }
            }
        }
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the load client ended");
        return load;
    }

    /** The host's CPU time so far, in clock ticks: all of it, and idle (with iowait). */
    private static long[] cpu() throws IOException {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        long total = 0;
        for (int i = 1; i < f.length; i++) {
            total += Long.parseLong(f[i]);
        }
        return new long[] {total, Long.parseLong(f[4]) + Long.parseLong(f[5])};
    }

    private static double busy(long[] from, long[] to) {
        return 1.0 - (double) (to[1] - from[1]) / Math.max(1, to[0] - from[0]);
    }

    private record Tick(long atMs, Map<Long, Long> counts) {
    }

    /** What one run of the load client saw. */
    private static final class Load {

        final List<Tick> ticks = new ArrayList<>();
        final Map<Long, Long> byValue = new TreeMap<>();
        final List<String> errors = new CopyOnWriteArrayList<>();
        double busy;
        double idleBusy;

        double perSecond(long fromS, long toS) {
            long n = ticks.stream().filter(t -> t.atMs() > fromS * 1000 && t.atMs() <= toS * 1000)
                    .mapToLong(t -> t.counts().values().stream().mapToLong(Long::longValue).sum()).sum();
            return n / (double) (toS - fromS);
        }

        long total() {
            return byValue.values().stream().mapToLong(Long::longValue).sum();
        }

        /** Pair {@code k}'s value: the pairs' counters were marked 0, 1, 2 increments above pair 1's. */
        long valueOfPair(int k) {
            List<Long> values = new ArrayList<>(byValue.keySet());
            return values.get(0) + k - 1;
        }

        String shares() {
            long total = total();
            StringBuilder b = new StringBuilder();
            int k = 1;
            for (long n : byValue.values()) {
                b.append(k++ == 1 ? "" : " / ").append(String.format(Locale.ROOT, "%.0f%%", 100.0 * n / total));
            }
            return b.toString();
        }

        /** The longest time without any answer between {@code fromMs} and {@code toMs}. */
        long longestGapAny(long fromMs, long toMs) {
            long previous = fromMs;
            long gap = 0;
            for (Tick t : ticks) {
                if (t.atMs() <= fromMs || t.counts().isEmpty()) {
                    continue;
                }
                if (t.atMs() > toMs) {
                    break;
                }
                gap = Math.max(gap, t.atMs() - previous);
                previous = t.atMs();
            }
            return gap;
        }

        long answersAfter(long value, long atMs) {
            return ticks.stream().filter(t -> t.atMs() > atMs).mapToLong(t -> t.counts().getOrDefault(value, 0L))
                    .sum();
        }

        /** The longest time without an answer of {@code value} between {@code fromMs} and {@code toMs}. */
        long longestGap(long value, long fromMs, long toMs) {
            long previous = fromMs;
            long gap = 0;
            for (Tick t : ticks) {
                if (t.atMs() <= fromMs || t.counts().getOrDefault(value, 0L) == 0) {
                    continue;
                }
                if (t.atMs() > toMs) {
                    break;
                }
                gap = Math.max(gap, t.atMs() - previous);
                previous = t.atMs();
            }
            return Math.max(gap, Math.min(toMs, ticks.isEmpty() ? toMs : ticks.get(ticks.size() - 1).atMs())
                    - previous);
        }
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
