package io.romulus.engine.internal;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.itests.e2e.Plots;

import static org.awaitility.Awaitility.await;

/**
 * The failover benchmark ({@code scripts/bench-failover}): kill to first reply on a held connection. Two Romulus nodes
 * run as processes in the primary and backup hosts' network namespaces (the {@link FaultRig} of the fault-injection
 * suite: netlab hosts, the demo guest protected at 40 Hz, output in an NFQUEUE), and a client in the client's
 * namespace increments the guest's counter every 10 ms over one TCP connection. Each trial kills the primary's host
 * ({@code kill -9} of its node and its QEMU), measures the time from the kill to the client's first reply and its
 * longest wait, reads where the time went from the FAILOVER alarm (silence before the conviction, activation: MAC
 * announcement, device-state load, running), then starts a node on the killed host again and waits until the domain
 * is protected towards it, so that the next trial kills the other host.
 *
 * <p>Without a witness, then (with {@code --witness}; only that with {@code --witness-only}) with a ZooKeeper witness
 * whose session timeout is {@code --session-ms}, the ZooKeeper server ticking every {@code --tick-ms} (default 500:
 * sessions of 1000 ms at least; ZooKeeper allows 2 to 20 ticks). Prints the distributions and the
 * breakdown, and writes each trial's reply latency around the kill to {@code target/failover-latency.csv} (trial, mode,
 * milliseconds from the kill, the wait that reply ended, the reply's latency) and its plot to
 * {@code target/failover-latency.svg}.
 *
 * <p>A second client opens a new connection every 20 ms ({@code scripts/connect-client.py}: connect, "get", close):
 * per trial the longest time without an answer on new connections (the blackout on new connections), the slowest
 * attempt and the failed ones, from a second before the kill or request to three seconds after it.
 *
 * <p>With {@code --switchover}, first as many planned switchovers of the same guest between the same two nodes
 * (romulus:switchover on the primary, alternating), measured the same way from the request: its blackout on the held
 * connection beside the failover's.
 *
 * <p>Each switchover's parts are printed too: the old primary's (final checkpoint, its ACK, prepare to ready, its copy
 * stopped, "go" sent; from its answer) and the new primary's, since "go" arrived (activated, output buffers attached,
 * dirty log started, running, announced, the stream back to the old primary up, its first checkpoint sent, output
 * released; from the {@code SWITCHOVER timeline} line of its log). {@code --switchover-only} runs no failovers.
 *
 * <p>Usage: {@code scripts/bench-failover [--trials 10] [--switchover | --switchover-only] [--witness |
 * --witness-only] [--session-ms 1000] [--tick-ms 500]}.
 */
public final class FailoverBenchmark {

    private static final Pattern SILENCE = Pattern.compile("after (\\d+) ms of silence");
    private static final Pattern ACTIVATED = Pattern.compile("activated here in (\\d+) ms");
    private static final Pattern ANNOUNCED = Pattern.compile("MAC announced in (\\d+) ms");
    private static final Pattern LOADED = Pattern.compile("device state loaded in (\\d+) ms");
    private static final Pattern RUNNING = Pattern.compile("running after (\\d+) ms");
    private static final Pattern FIRST_FRAME = Pattern.compile("first guest packet out (\\d+) ms after the activation "
            + "began");
    private static final Pattern FIRST_FRAME_TOTAL = Pattern.compile("first guest packet out \\d+ ms after the "
            + "activation began, (\\d+) ms after the primary was last heard");

    /** The old primary's account of a switchover (its answer), in ms: each step after the one before. */
    private static final Pattern OLD_PRIMARY = Pattern.compile("final checkpoint taken (\\d+) ms after the request, "
            + "acknowledged (\\d+) ms later, the backup ready (\\d+) ms later, this copy stopped (\\d+) ms later, the "
            + "hand-over sent (\\d+) ms later");
    /** The new primary's timeline of a switchover (its log), in ms after the hand-over arrived. */
    private static final Pattern TIMELINE = Pattern.compile("SWITCHOVER timeline of \\S+ from checkpoint \\d+, ms after "
            + "the hand-over: (.*)$");
    /** The switchover's parts, in the order the breakdown prints them. */
    private static final List<String> PARTS = List.of("final checkpoint taken (after the request)",
            "final checkpoint acknowledged", "prepare -> ready", "old copy stopped", "go sent", "new: activated",
            "new: output buffers attached", "new: dirty log started", "new: running", "new: announced",
            "new: stream back up", "new: first checkpoint sent", "new: output released");

    /** One trial's figures, in milliseconds (-1: not known). */
    private record Trial(String mode, long killToReply, long longestWait, long silence, long activated,
            long announced, long loaded, long running, long firstFrame, long firstFrameTotal, String alarm,
            FaultRig.NewConnections newConnections) {

        Trial withNewConnections(FaultRig.NewConnections figures) {
            return new Trial(mode, killToReply, longestWait, silence, activated, announced, loaded, running,
                    firstFrame, firstFrameTotal, alarm, figures);
        }
    }

    /** Seconds between two of the second client's new connections. */
    private static final String NEW_CONNECTION_INTERVAL = "0.02";
    /** Seconds after the kill or request that the new connections are counted. */
    private static final int NEW_CONNECTION_WINDOW_S = 3;
    /**
     * Whether the second client runs ({@code --no-new-connections}: not; its 50 connections a second are work for the
     * guest too, which a fresh QEMU under TCG pays for, so runs with and without it are not comparable).
     */
    private static boolean newConnectionClient = true;

    private FailoverBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int trials = 10;
        boolean witness = false;
        int sessionMs = 1000;
        int tickMs = 500;
        boolean plain = true;
        boolean switchover = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--trials" -> trials = Integer.parseInt(args[++i]);
                case "--witness" -> witness = true;
                case "--switchover" -> switchover = true;
                case "--switchover-only" -> {
                    switchover = true;
                    plain = false;
                }
                case "--witness-only" -> {
                    witness = true;
                    plain = false;
                }
                case "--session-ms" -> sessionMs = Integer.parseInt(args[++i]);
                case "--tick-ms" -> tickMs = Integer.parseInt(args[++i]);
                case "--no-new-connections" -> newConnectionClient = false;
                default -> throw new IllegalArgumentException("unknown option " + args[i] + "; usage: "
                        + "scripts/bench-failover [--trials 10] [--switchover | --switchover-only] [--witness | "
                        + "--witness-only] [--session-ms 1000] [--tick-ms 500] [--no-new-connections]");
            }
        }
        Path csv = Path.of("target", "failover-latency.csv");
        Files.createDirectories(csv.getParent());
        List<Trial> all = new ArrayList<>();
        List<long[]> breakdown = new ArrayList<>();
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(csv, StandardCharsets.UTF_8))) {
            out.println("trial,mode,ms_from_kill,wait_ms,latency_ms");
            if (switchover) {
                all.addAll(switchovers(trials, out, breakdown));
            }
            if (plain) {
                all.addAll(run("no witness", false, trials, 0, out));
            }
            if (witness) {
                System.setProperty(NodeMain.WITNESS_SESSION_MS, Integer.toString(sessionMs));
                all.addAll(run("witness, session " + sessionMs + " ms, tick " + tickMs + " ms", true, trials, tickMs,
                        out));
            }
        }
        System.out.println();
        System.out.println("Failover, kill -9 of the primary's node and QEMU to the first reply on a held connection "
                + "(client every 10 ms), " + trials + " trials per mode; a switchover counts from its request:");
        for (String mode : all.stream().map(Trial::mode).distinct().toList()) {
            List<Trial> t = all.stream().filter(x -> x.mode().equals(mode)).toList();
            System.out.printf(Locale.ROOT, "  %-26s %-22s %7s %7s %7s %7s%n", mode, "(ms)", "min", "median", "p90",
                    "max");
            if (mode.equals("switchover")) {
                row("request to first reply", t.stream().mapToLong(Trial::killToReply).toArray());
                row("client's longest wait (blackout)", t.stream().mapToLong(Trial::longestWait).toArray());
                row("command (until the old primary stopped)", t.stream().mapToLong(Trial::activated).toArray());
                newConnectionRows(t);
                System.out.println("    where it went (old primary: each step after the one before; new primary: ms "
                        + "since go arrived)");
                for (int k = 0; k < PARTS.size(); k++) {
                    int part = k;
                    row("  " + PARTS.get(k), breakdown.stream().mapToLong(b -> b[part]).toArray());
                }
                continue;
            }
            row("kill to first reply", t.stream().mapToLong(Trial::killToReply).toArray());
            row("client's longest wait", t.stream().mapToLong(Trial::longestWait).toArray());
            newConnectionRows(t);
            row("silence at conviction", t.stream().mapToLong(Trial::silence).toArray());
            row("activation (engine)", t.stream().mapToLong(Trial::activated).toArray());
            row("  MAC announced", t.stream().mapToLong(Trial::announced).toArray());
            row("  device state loaded", t.stream().mapToLong(Trial::loaded).toArray());
            row("  guest running", t.stream().mapToLong(Trial::running).toArray());
            row("first guest packet out, after activation began", t.stream().mapToLong(Trial::firstFrame).toArray());
            row("first guest packet out, after last heartbeat", t.stream().mapToLong(Trial::firstFrameTotal)
                    .toArray());
        }
        System.out.println("Per trial (FAILOVER alarm):");
        for (int i = 0; i < all.size(); i++) {
            Trial t = all.get(i);
            System.out.printf(Locale.ROOT, "  %2d %-26s reply after %4d ms: %s%n", i + 1, t.mode(), t.killToReply(),
                    t.alarm());
        }
        System.out.println("Reply latency around each kill: " + csv.toAbsolutePath() + ", plotted in "
                + Plots.failoverLatency(csv, csv.resolveSibling("failover-latency.svg")).toAbsolutePath());
    }

    /**
     * The second client's figures: a new connection every 20 ms (connect, "get", close), from a second before the
     * kill or request to three seconds after it.
     */
    private static void newConnectionRows(List<Trial> t) {
        row("new connections: longest time without an answer", t.stream().mapToLong(x -> x.newConnections().longestWithoutAnswer())
                .toArray());
        row("new connections: slowest (connect to answer)", t.stream().mapToLong(x -> x.newConnections().slowest())
                .toArray());
        row("new connections: failed attempts", t.stream().mapToLong(x -> x.newConnections().failed()).toArray());
    }

    private static void row(String what, long[] values) {
        long[] v = Arrays.stream(values).filter(x -> x >= 0).sorted().toArray();
        if (v.length == 0) {
            System.out.printf(Locale.ROOT, "    %-48s %7s%n", what, "-");
            return;
        }
        System.out.printf(Locale.ROOT, "    %-48s %7d %7d %7d %7d%n", what, v[0], v[v.length / 2],
                v[Math.min(v.length - 1, (int) Math.ceil(v.length * 0.9) - 1)], v[v.length - 1]);
    }

    @SuppressWarnings("try") // FaultRig.close() may be interrupted: a benchmark fixture
    private static List<Trial> run(String mode, boolean witness, int trials, int tickMs, PrintWriter csv)
            throws Exception {
        List<Trial> results = new ArrayList<>();
        Path dir = Files.createTempDirectory("romulus-bench-failover");
        try (FaultRig rig = new FaultRig()) {
            rig.clientInterval = "0.01";
            rig.connectInterval = newConnectionClient ? NEW_CONNECTION_INTERVAL : null;
            rig.zooKeeperTickMs = witness ? tickMs : 500;
            rig.start(dir, witness, "dirty-rate=500");
            int restarts = 0;
            for (int i = 0; i < trials; i++) {
                boolean aIsPrimary = rig.a.state("PRIMARY").equals("PROTECTED");
                NodeProcess primary = aIsPrimary ? rig.a : rig.b;
                NodeProcess backup = aIsPrimary ? rig.b : rig.a;
                int alarmsBefore = backup.alarms.size();
                Thread.sleep(1000 + (long) (Math.random() * 100)); // a random phase against epochs and heartbeats
                long kill = System.nanoTime();
                primary.killHost();
                await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                        .until(() -> backup.alarms.size() > alarmsBefore && backup.alarms.stream()
                                .skip(alarmsBefore).anyMatch(a -> a.kind().equals("FAILOVER")));
                long reply = replyEndingTheStall(rig, kill);
                String alarm = backup.alarms.stream().skip(alarmsBefore).filter(a -> a.kind().equals("FAILOVER"))
                        .map(NodeProcess.AlarmLine::message).findFirst().orElse("");
                Trial t = new Trial(mode, ms(reply - kill), rig.maxGapMs(kill - TimeUnit.SECONDS.toNanos(1), reply),
                        figure(SILENCE, alarm), figure(ACTIVATED, alarm), figure(ANNOUNCED, alarm),
                        figure(LOADED, alarm), figure(RUNNING, alarm), figure(FIRST_FRAME, alarm),
                        figure(FIRST_FRAME_TOTAL, alarm), alarm, null).withNewConnections(rig.newConnections(kill,
                                NEW_CONNECTION_WINDOW_S));
                results.add(t);
                System.out.printf(Locale.ROOT, "%s trial %d: kill to first reply %d ms, longest wait %d ms; %s; %s%n",
                        mode, i + 1, t.killToReply(), t.longestWait(), newConnections(t), alarm);
                latency(csv, i + 1, mode, rig, kill);
                if (!rig.errors.isEmpty()) {
                    throw new AssertionError("the client's connection broke: " + rig.errors);
                }
                // the killed host's node starts again, and the domain is protected towards it
                restarts++;
                String zk = witness ? FaultRig.ZOOKEEPER : "";
                if (aIsPrimary) {
                    rig.a = NodeProcess.start(rig.lab.primaryHost(), "node-a", FaultRig.A_IP,
                            rig.run.resolve("a" + restarts), rig.secret(), zk, FaultRig.log("node-a" + restarts));
                } else {
                    rig.b = NodeProcess.start(rig.lab.backupHost(), "node-b", FaultRig.B_IP,
                            rig.run.resolve("b" + restarts), rig.secret(), zk, FaultRig.log("node-b" + restarts));
                }
                rig.awaitState(backup, "PRIMARY", "PROTECTED", 180);
            }
            rig.checkClient();
        } finally {
            new ProcessBuilder("rm", "-rf", dir.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
        return results;
    }

    /**
     * Planned switchovers of the guest, alternating between the nodes: romulus:switchover on the primary, then the
     * first reply after the client's stall, and the client's longest wait; the old primary resumes as the backup.
     */
    @SuppressWarnings("try") // FaultRig.close() may be interrupted: a benchmark fixture
    private static List<Trial> switchovers(int trials, PrintWriter csv, List<long[]> breakdown) throws Exception {
        List<Trial> results = new ArrayList<>();
        Path dir = Files.createTempDirectory("romulus-bench-switchover");
        try (FaultRig rig = new FaultRig()) {
            rig.clientInterval = "0.01";
            rig.connectInterval = newConnectionClient ? NEW_CONNECTION_INTERVAL : null;
            rig.start(dir, false, "dirty-rate=500");
            for (int i = 0; i < trials; i++) {
                boolean aIsPrimary = rig.a.state("PRIMARY").equals("PROTECTED");
                NodeProcess primary = aIsPrimary ? rig.a : rig.b;
                NodeProcess backup = aIsPrimary ? rig.b : rig.a;
                rig.awaitState(backup, "BACKUP", "PROTECTED", 180);
                Thread.sleep(1000 + (long) (Math.random() * 100)); // a random phase against epochs
                long asked = System.nanoTime();
                String answer = primary.must("switchover " + FaultRig.DOMAIN);
                long returned = System.nanoTime();
                long reply = replyEndingTheStall(rig, asked);
                Trial t = new Trial("switchover", ms(reply - asked), rig.maxGapMs(asked - TimeUnit.SECONDS.toNanos(1),
                        reply), -1, ms(returned - asked), -1, -1, -1, -1, -1, answer, null)
                        .withNewConnections(rig.newConnections(asked, NEW_CONNECTION_WINDOW_S));
                results.add(t);
                System.out.printf(Locale.ROOT, "switchover trial %d: request to first reply %d ms, longest wait %d "
                        + "ms; %s; %s%n", i + 1, t.killToReply(), t.longestWait(), newConnections(t), answer);
                rig.awaitState(backup, "PRIMARY", "PROTECTED", 180);
                long[] p = parts(answer, backup);
                breakdown.add(p);
                StringBuilder line = new StringBuilder();
                for (int k = 0; k < PARTS.size(); k++) {
                    line.append(k == 0 ? "" : ", ").append(PARTS.get(k)).append(' ').append(p[k]);
                }
                System.out.printf(Locale.ROOT, "  parts (old primary: each after the one before; new: since go): "
                        + "%s; blackout %d%n", line, t.longestWait());
                latency(csv, i + 1, "switchover", rig, asked);
                if (!rig.errors.isEmpty()) {
                    throw new AssertionError("the client's connection broke: " + rig.errors);
                }
            }
            rig.checkClient();
        } finally {
            new ProcessBuilder("rm", "-rf", dir.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
        return results;
    }

    /**
     * The reply that ended the client's stall around the kill: the first after the longest gap between two replies
     * from the last reply before the kill on (replies the old primary released just before it died still arrive a
     * moment after the kill; the time is counted from the kill all the same).
     */
    private static long replyEndingTheStall(FaultRig rig, long kill) {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(10))
                .until(() -> !rig.errors.isEmpty() || rig.values.stream().filter(v -> v[1] > kill).count() >= 20);
        if (!rig.errors.isEmpty()) {
            throw new AssertionError("the client's connection broke: " + rig.errors);
        }
        long previous = rig.values.stream().filter(v -> v[1] <= kill).mapToLong(v -> v[1]).max().orElse(kill);
        long longest = -1;
        long end = -1;
        for (long[] v : rig.values) {
            if (v[1] > kill && v[1] - previous > longest) {
                longest = v[1] - previous;
                end = v[1];
            }
            if (v[1] > kill) {
                previous = v[1];
            }
        }
        return end;
    }

    /**
     * The client's replies from a second before the kill to three seconds after it: when each came (ms from the
     * kill), the wait it ended (since the reply before) and its own latency (request sent to reply received).
     */
    private static void latency(PrintWriter csv, int trial, String mode, FaultRig rig, long kill) {
        long previous = -1;
        for (long[] v : rig.values) {
            long rel = v[1] - kill;
            if (rel >= -TimeUnit.SECONDS.toNanos(1) && rel <= TimeUnit.SECONDS.toNanos(3)) {
                csv.printf(Locale.ROOT, "%d,\"%s\",%.1f,%.1f,%.1f%n", trial, mode, rel / 1e6,
                        previous < 0 ? 0.0 : (v[1] - previous) / 1e6, v[2] / 1e6);
            }
            previous = v[1];
        }
        csv.flush();
    }

    /**
     * The switchover's parts from the old primary's answer and the new primary's timeline in its log (ms; -1 where
     * a step is missing): the old primary's steps each after the one before, the new primary's since "go" arrived.
     */
    private static long[] parts(String answer, NodeProcess newPrimary) throws java.io.IOException {
        long[] p = new long[PARTS.size()];
        Arrays.fill(p, -1);
        Matcher m = OLD_PRIMARY.matcher(answer);
        if (m.find()) {
            for (int i = 0; i < 5; i++) {
                p[i] = Long.parseLong(m.group(i + 1));
            }
        }
        String timeline = null;
        for (String line : Files.readAllLines(newPrimary.log, StandardCharsets.UTF_8)) {
            Matcher t = TIMELINE.matcher(line);
            if (t.find()) {
                timeline = t.group(1);
            }
        }
        if (timeline == null) {
            return p;
        }
        for (String step : timeline.split(", ")) {
            int space = step.lastIndexOf(' ');
            String name = step.substring(0, space);
            long v = Long.parseLong(step.substring(space + 1));
            int at = name.startsWith("activated") ? 5 : name.equals("output buffers attached") ? 6
                    : name.equals("dirty log started") ? 7 : name.equals("running") ? 8 : name.equals("announced") ? 9
                    : name.equals("stream back up") ? 10 : name.endsWith(" sent") ? 11
                    : name.startsWith("output released") ? 12 : -1;
            if (at >= 0 && (at != 11 || p[11] < 0)) {
                p[at] = v;
            }
        }
        return p;
    }

    private static String newConnections(Trial t) {
        FaultRig.NewConnections n = t.newConnections();
        return String.format(Locale.ROOT, "new connections: longest time without an answer %d ms, slowest %d ms, "
                + "%d failed%s", n.longestWithoutAnswer(), n.slowest(), n.failed(), n.failed() > 0 ? " " + n.failures()
                        : "");
    }

    private static long figure(Pattern p, String text) {
        Matcher m = p.matcher(text);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
