package io.romulus.engine.internal;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The checkpoint stream over a degraded link (issue 19): the {@link FaultRig} of the fault-injection tests (two nodes
 * as processes in netlab namespaces, the demo guest protected at 40 Hz on A, a ZooKeeper witness so that a false
 * suspicion on this busy machine activates nothing, a client incrementing the guest's counter every 50 ms), then per
 * link condition a {@link DelayLine} on both hosts' links for a while. Prints per condition the checkpoints the backup
 * committed per second, the client's waits (p50, p99, max), the stream's reconnects, the primary's TCP retransmits
 * and timeouts, and the intervals the epochs ran at, against the targets of issue 19:
 * <ul>
 * <li>50 ms RTT, 1% loss: at least 15 checkpoints a second and a client p99 wait of at most 3 x (RTT + interval);</li>
 * <li>50 ms RTT, 5% loss: no client wait over 2 s.</li>
 * </ul>
 * Run by {@code scripts/bench-failover --links DELAY:LOSS,...}; needs root.
 */
public final class DegradedLinkBenchmark {

    private DegradedLinkBenchmark() {
    }

    /** One link condition: the delay each way through the switch, and the share of packets dropped. */
    private record Link(int delayMs, double loss) {

        int rttMs() {
            return 2 * delayMs;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "RTT %d ms (%d ms each way), %.0f%% loss", rttMs(), delayMs, loss * 100);
        }
    }

    @SuppressWarnings("try") // FaultRig.close() may be interrupted: a benchmark fixture
    public static void main(String[] args) throws Exception {
        List<Link> links = new ArrayList<>();
        int seconds = 30;
        boolean replicationOnly = false;
        boolean perPacket = false;
        String hostCongestion = "";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--links" -> {
                    for (String l : args[++i].split(",")) {
                        String[] f = l.split(":");
                        double loss = Double.parseDouble(f[1]);
                        if (loss < 0 || loss >= 1) {
                            throw new IllegalArgumentException("the loss of " + l + " is a share of the packets "
                                    + "(0.01 for 1%), and the delay is each way (25 for an RTT of 50 ms)");
                        }
                        links.add(new Link(Integer.parseInt(f[0]), loss));
                    }
                }
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--replication-loss-only" -> replicationOnly = true;
                case "--per-packet" -> perPacket = true;
                case "--host-congestion" -> hostCongestion = args[++i];
                default -> throw new IllegalArgumentException("unknown option " + args[i] + "; usage: "
                        + "scripts/bench-failover --links 25:0.01,25:0.05 [--seconds 30] [--replication-loss-only] "
                        + "[--per-packet] [--host-congestion reno] [--interval-mode MODE] [--stream-tuning on|off]");
            }
        }
        if (links.isEmpty()) {
            links = List.of(new Link(25, 0.01), new Link(25, 0.05));
        }
        String mode = System.getProperty(NodeMain.INTERVAL_MODE, "adaptive (the default)") + ", stream TCP options "
                + System.getProperty(NodeMain.STREAM_TUNING, "on (the default)");
        List<String> results = new ArrayList<>();
        Path dir = Files.createTempDirectory("romulus-degraded");
        if (perPacket) {
            mode += ", one segment per packet (no GSO)";
        }
        if (!hostCongestion.isEmpty()) {
            mode += ", the hosts' default congestion control " + hostCongestion;
        }
        try (FaultRig rig = new FaultRig()) {
            rig.perPacket = perPacket;
            rig.hostCongestion = hostCongestion;
            rig.start(dir, true, "dirty-rate=500");
            Map<String, String> lossOnlyTo = replicationOnly ? Map.of("a", FaultRig.B_IP, "b", FaultRig.A_IP)
                    : Map.of();
            // one delay line for the whole run: a moment without delay between two conditions would leave BBR's
            // minimum RTT at microseconds for its 10 s window, starving the stream at the next condition's start
            try (DelayLine line = new DelayLine(rig.lab, links.get(0).delayMs(), 0, lossOnlyTo, "a", "b")) {
                for (Link link : links) {
                    line.set(link.delayMs(), 0);
                    Thread.sleep(SETTLE_MS);
                    results.add(measure(rig, line, link, seconds, mode, replicationOnly));
                }
            }
        }
        System.out.println();
        System.out.println("Checkpoint stream over a degraded link (demo guest at a 25 ms interval, interval mode "
                + mode + ", client every 50 ms; busy machine: other engineers' builds share its 2 cores):");
        results.forEach(System.out::println);
    }

    /** The delay alone before each condition's loss: longer than BBR's 10 s window of the minimum RTT. */
    private static final long SETTLE_MS = 12_000;

    private static String measure(FaultRig rig, DelayLine line, Link link, int seconds, String mode,
            boolean replicationOnly) throws Exception {
        long degradedBefore = count(rig.a.log, "degraded:");
        Map<String, Long> tcpBefore = tcp(rig);
        long committedBefore = rig.committed();
        Map<String, Integer> intervals = new TreeMap<>();
        long start = System.nanoTime();
        long end;
        long committedAfter;
        TcpEventSampler events = new TcpEventSampler(TcpEventSampler.pidIn(rig.lab, rig.lab.primaryHost()),
                TcpEventSampler.pidIn(rig.lab, rig.lab.backupHost()));
        line.set(link.delayMs(), link.loss());
        try (events) {
            long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() < deadline) {
                Thread.sleep(1000);
                for (NodeProcess.Row r : rig.a.status()) {
                    if (r.role().equals("PRIMARY")) {
                        intervals.merge(interval(r.detail()), 1, Integer::sum);
                    }
                }
            }
            committedAfter = rig.committed();
            end = System.nanoTime();
            line.set(link.delayMs(), 0);
        }
        Map<String, Long> tcpAfter = tcp(rig);
        long degraded = count(rig.a.log, "degraded:") - degradedBefore;
        double rate = (committedAfter - committedBefore) / ((end - start) / 1e9);
        List<long[]> replies = rig.values.stream().filter(v -> v[1] >= start && v[1] <= end && v.length > 2
                && v[2] >= 0).toList();
        long[] waits = replies.stream().mapToLong(v -> v[2] / 1_000_000).sorted().toArray();
        long gap = rig.maxGapMs(start, end);
        long p50 = percentile(waits, 0.5);
        long p99 = percentile(waits, 0.99);
        long max = waits.length == 0 ? -1 : waits[waits.length - 1];
        int intervalMs = 25;
        long p99Target = 3L * (link.rttMs() + intervalMs);
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "  %s%s, %d s:%n", link, replicationOnly
                ? " on the replication link only (the clients' packets are delayed, never dropped)"
                : " on every packet from A and B (the guest's replies too)", seconds));
        b.append(String.format(Locale.ROOT, "    checkpoints committed per second  %6.1f%s%n", rate,
                link.loss() <= 0.01 ? verdict(rate >= 15, ">= 15") : ""));
        b.append(String.format(Locale.ROOT, "    client wait (ms)  p50 %d  p99 %d  max %d  (%d replies; longest gap between"
                + " replies %d ms)%s%n", p50, p99, max, waits.length, gap,
                link.loss() <= 0.01 ? verdict(p99 >= 0 && p99 <= p99Target, "p99 <= 3 x (RTT + interval) = " + p99Target)
                        : verdict(max >= 0 && max <= 2000, "no wait over 2000 ms")));
        Map<String, Integer> causes = new TreeMap<>();
        for (long[] v : replies) {
            if (v[2] / 1_000_000 > p99Target) {
                causes.merge(events.cause(v[1] - v[2], v[1]), 1, Integer::sum);
            }
        }
        b.append(String.format(Locale.ROOT, "    waits over %d ms by what the hosts' TCP did meanwhile: %s%n",
                p99Target, causes));
        b.append(String.format(Locale.ROOT, "    TCP events during the condition: %s%n", events.totals(start, end)));
        b.append(String.format(Locale.ROOT, "    stream reconnects %d; primary's TCP: %s%n", degraded,
                delta(tcpBefore, tcpAfter)));
        b.append(String.format(Locale.ROOT, "    interval (status, once a second): %s%n", intervals));
        String text = b.toString();
        System.out.print(text);
        Files.writeString(Path.of("target", "degraded-link.txt"), "interval mode " + mode + System.lineSeparator()
                + text, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND);
        return text;
    }

    private static String verdict(boolean met, String target) {
        return "  target " + target + ": " + (met ? "met" : "NOT met");
    }

    /** The current interval and its reason as a status detail names them ("interval 38 ms, lengthened: ..."). */
    private static String interval(String detail) {
        int at = detail.indexOf("interval ");
        if (at < 0) {
            return "set";
        }
        String rest = detail.substring(at + "interval ".length());
        for (char c : new char[] {'(', ';'}) {
            if (rest.indexOf(c) >= 0) {
                rest = rest.substring(0, rest.indexOf(c));
            }
        }
        return rest.strip();
    }

    private static long count(Path log, String text) throws java.io.IOException {
        try (var lines = Files.lines(log, StandardCharsets.UTF_8)) {
            return lines.filter(l -> l.contains(text)).count();
        }
    }

    private static final List<String> TCP = List.of("TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPLossProbes",
            "TcpExtTCPSpuriousRTOs");

    /** The primary host's TCP counters (its own network namespace). */
    private static Map<String, Long> tcp(FaultRig rig) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", rig.lab.primaryHost(), "nstat", "-az"));
        cmd.addAll(TCP);
        Map<String, Long> m = new LinkedHashMap<>();
        for (String l : rig.lab.run(cmd).split("\n")) {
            String[] f = l.trim().split("\\s+");
            if (f.length >= 2 && TCP.contains(f[0])) {
                m.put(f[0], Long.parseLong(f[1]));
            }
        }
        return m;
    }

    private static String delta(Map<String, Long> before, Map<String, Long> after) {
        StringBuilder b = new StringBuilder();
        for (String k : TCP) {
            b.append(k.replace("TcpExt", "").replace("Tcp", "")).append(' ')
                    .append(after.getOrDefault(k, 0L) - before.getOrDefault(k, 0L)).append("  ");
        }
        return b.toString().strip();
    }

    private static long percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return -1;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(sorted.length * p) - 1)];
    }
}
