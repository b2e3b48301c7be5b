package io.romulus.engine.internal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A {@link NodeMain} process inside a host's network namespace: the test's handle on one Romulus node. Killing or
 * freezing "the host" signals every process in the namespace (the node's JVM and its QEMU guests).
 */
@SuppressWarnings("try") // close() may be interrupted; these are test fixtures
final class NodeProcess implements AutoCloseable {

    /** An alarm line of the node, with the test's clock when it arrived. */
    record AlarmLine(long nanos, String kind, String domain, String message) {
    }

    /** One {@code status} row. */
    record Row(String domain, String role, String state, long epoch, String detail) {
    }

    final String netns;
    final String node;
    /** Where the node's log goes. */
    final Path log;
    private final Process process;
    private final Writer in;
    private final BlockingQueue<String> replies = new LinkedBlockingQueue<>();
    final List<AlarmLine> alarms = new CopyOnWriteArrayList<>();

    private NodeProcess(String netns, String node, Process process, Path log) {
        this.log = log;
        this.netns = netns;
        this.node = node;
        this.process = process;
        this.in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread reader = new Thread(this::read, "node-" + node);
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * Starts node {@code node} in {@code netns}, its stream and heartbeats on {@code ip}, its guests under
     * {@code run}; logs go to {@code log}.
     */
    static NodeProcess start(String netns, String node, String ip, Path run, Path secret, String zookeeper, Path log)
            throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        // the heap as bin/setenv gives a node: fixed and touched at start, so that no collection pays the first
        // touch of fresh pages (10-15 us each on some boots of this machine: young pauses of 100-360 ms, longer
        // than the failure detector's 150 ms to suspect a peer)
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", netns, java,
                "-XX:MaxDirectMemorySize=1g", "-Xms512m", "-Xmx512m", "-XX:+AlwaysPreTouch", "-XX:MaxGCPauseMillis=20",
                "-cp", System.getProperty("java.class.path")));
        for (String p : List.of("romulus.guest.dir", "romulus.uffd.preload", NodeMain.SCALEOUT_API,
                NodeMain.SCALEOUT_READ_ONLY, NodeMain.SCALEOUT_BACKUPS, NodeMain.SCALEOUT_DRAIN_MS,
                NodeMain.WITNESS_SESSION_MS, NodeMain.INTERVAL_MODE, NodeMain.STREAM_TUNING)) {
            if (System.getProperty(p) != null) {
                cmd.add("-D" + p + "=" + System.getProperty(p));
            }
        }
        // the node's collections next to its log; both count milliseconds from the JVM's start
        cmd.addAll(List.of("-Xlog:gc:file=" + log + ".gc:uptimemillis", "-Dorg.slf4j.simpleLogger.showDateTime=true"));
        cmd.addAll(List.of(NodeMain.class.getName(), node, ip, run.toString(), secret.toString(), zookeeper));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        NodeProcess n = new NodeProcess(netns, node, p, log);
        String ready = n.replies.poll(60, TimeUnit.SECONDS);
        if (ready == null || !ready.equals("ready " + node)) {
            n.close();
            throw new AssertionError("node " + node + " did not start (" + ready + "); see " + log);
        }
        return n;
    }

    private void read() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.startsWith("alarm ")) {
                    String[] f = line.split(" ", 4);
                    alarms.add(new AlarmLine(System.nanoTime(), f[1], f[2], f.length > 3 ? f[3] : ""));
                } else {
                    replies.add(line);
                }
            }
        } catch (IOException e) {
            replies.add("error reading the node: " + e);
        }
        replies.add("error the node's process ended");
    }

    /** Sends a command and returns its reply (every line up to "end" for status). */
    synchronized List<String> command(String line) throws IOException, InterruptedException {
        replies.clear();
        in.write(line + "\n");
        in.flush();
        List<String> out = new ArrayList<>();
        while (true) {
            String r = replies.poll(90, TimeUnit.SECONDS);
            if (r == null) {
                throw new AssertionError(node + " did not answer '" + line + "'");
            }
            if (r.startsWith("error") || r.startsWith("ok") || r.equals("end")) {
                if (!r.equals("end")) {
                    out.add(r);
                }
                return out;
            }
            out.add(r);
        }
    }

    /** Runs a command that must succeed. */
    String must(String line) throws IOException, InterruptedException {
        List<String> r = command(line);
        if (r.isEmpty() || !r.get(r.size() - 1).startsWith("ok")) {
            throw new AssertionError(node + ": '" + line + "' failed: " + r);
        }
        return r.get(r.size() - 1);
    }

    List<Row> status() throws IOException, InterruptedException {
        List<Row> rows = new ArrayList<>();
        for (String l : command("status")) {
            if (l.startsWith("status ")) {
                String[] head = l.substring(7).split(" \\| ", 2)[0].split(" ");
                rows.add(new Row(head[0], head[1], head[2], Long.parseLong(head[3]),
                        l.contains(" | ") ? l.substring(l.indexOf(" | ") + 3) : ""));
            }
        }
        return rows;
    }

    /** The state of this node's row for {@code role}, or "none". */
    String state(String role) {
        try {
            if (!process.isAlive()) {
                return "dead";
            }
            return status().stream().filter(r -> r.role().equals(role)).map(Row::state).findFirst().orElse("none");
        } catch (IOException | InterruptedException | AssertionError e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    boolean raised(String kind) {
        return alarms.stream().anyMatch(a -> a.kind().equals(kind));
    }

    long raisedAt(String kind) {
        return alarms.stream().filter(a -> a.kind().equals(kind)).mapToLong(AlarmLine::nanos).min().orElse(-1);
    }

    /** Every process in this host's namespace: the node's JVM and its QEMU guests. */
    List<Long> hostPids() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("ip", "netns", "pids", netns).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(10, TimeUnit.SECONDS);
        List<Long> pids = new ArrayList<>();
        for (String s : out.split("\\s+")) {
            if (!s.isBlank()) {
                pids.add(Long.parseLong(s.strip()));
            }
        }
        return pids;
    }

    /**
     * Whether a VM runs on this host, judged from the host rather than from what the node says: a QEMU process in its
     * namespace whose guest is on the network (one of its taps is up), or one without a tap. A standby QEMU (started
     * ahead of a failover, stopped, its taps down) is not a running copy; the same process is once failover brought its
     * taps up.
     */
    boolean runsQemu() throws IOException, InterruptedException {
        for (long pid : hostPids()) {
            List<String> args;
            try {
                args = List.of(new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                        StandardCharsets.UTF_8).split("\0"));
            } catch (IOException gone) {
                continue;
            }
            if (args.isEmpty() || !args.get(0).contains("qemu-system")) {
                continue;
            }
            List<String> taps = new ArrayList<>();
            for (String a : args) {
                for (String part : a.split(",")) {
                    if (part.startsWith("ifname=")) {
                        taps.add(part.substring("ifname=".length()));
                    }
                }
            }
            if (taps.isEmpty()) {
                return true;
            }
            for (String tap : taps) {
                Process p = new ProcessBuilder("ip", "-n", netns, "-o", "link", "show", tap).redirectErrorStream(true)
                        .start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                p.waitFor(10, TimeUnit.SECONDS);
                if (out.matches("(?s).*<[^>]*\\bUP\\b[^>]*>.*")) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The host dies: SIGKILL to every process in its namespace. */
    void killHost() throws IOException, InterruptedException {
        signalHost("KILL");
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /** The host freezes (SIGSTOP to every process in its namespace), or thaws (SIGCONT). */
    void freezeHost(boolean frozen) throws IOException, InterruptedException {
        signalHost(frozen ? "STOP" : "CONT");
    }

    private void signalHost(String signal) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("kill", "-" + signal));
        for (long pid : hostPids()) {
            cmd.add(Long.toString(pid));
        }
        if (cmd.size() > 2) {
            new ProcessBuilder(cmd).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    boolean alive() {
        return process.isAlive();
    }

    @Override
    public void close() throws IOException, InterruptedException {
        if (process.isAlive()) {
            signalHost("CONT");
            process.destroy(); // the shutdown hook stops the guests
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                signalHost("KILL");
            }
        }
        signalHost("KILL"); // anything left in the namespace
    }
}
