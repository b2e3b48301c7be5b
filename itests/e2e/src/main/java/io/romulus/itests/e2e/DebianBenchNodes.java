package io.romulus.itests.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import io.romulus.engine.internal.Engine;
import io.romulus.engine.internal.EngineSettings;
import io.romulus.nbd.internal.NbdDiskReplicator;
import io.romulus.nbd.internal.NbdExports;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;
import io.romulus.qemu.internal.QemuHypervisor;
import io.romulus.qemu.internal.QemuSettings;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;

/**
 * Two Romulus nodes on one machine, as DebianGuestFailoverTest sets them up: the hosts of scripts/netlab (primary
 * {@code PREFIX-a}, backup {@code PREFIX-b}, client {@code PREFIX-c} at 10.77.0.100), a QEMU binding per host (guests'
 * taps on that host's br0), each node's NBD server for its guests' disks and its copies of replicated disks, NFQUEUE
 * output commit on the primary, and a primary and a backup engine joined by the MINA stream on loopback. Everything it
 * makes is undone by the {@link Cleanup} it is given, on success and on failure alike.
 */
final class DebianBenchNodes {

    /** Epochs of history kept per domain: a few minutes at 40 Hz, so a whole phase's epochs can be read back. */
    private static final int HISTORY = 16_384;

    final String prefix;
    final Path run;
    final QemuHypervisor primaryQemu;
    final QemuHypervisor backupQemu;
    final MinaCheckpointTransport primaryStream;
    final MinaCheckpointTransport backupStream;
    final Engine primary;
    final Engine backup;
    final TimedDiskReplicator primaryDisks;
    private final Path netlab;
    /** What ran on the client host; stopped if still running when the nodes go. */
    private final List<Process> clients = new CopyOnWriteArrayList<>();

    private DebianBenchNodes(String prefix, Path run, Path work, Path preload, Path netlab, boolean repliesHeld,
                             Cleanup cleanup)
            throws Exception {
        this.prefix = prefix;
        this.run = run;
        this.netlab = netlab;
        cleanup.add("scripts/netlab down " + prefix, () -> command(List.of(netlab.toString(), "down", prefix), 60));
        command(List.of(netlab.toString(), "up", prefix), 60);
        cleanup.add("stop the clients", () -> {
            for (Process p : clients) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        });

        cleanup.deleteTree(run);
        primaryQemu = new QemuHypervisor(settings(run.resolve("a"), work.resolve("a-converted"), preload,
                prefix + "-a"));
        backupQemu = new QemuHypervisor(settings(run.resolve("b"), work.resolve("b-converted"), preload,
                prefix + "-b"));
        if (!primaryQemu.availability().available()) {
            throw new IllegalStateException(primaryQemu.availability().reason());
        }
        NbdExports primaryExports = BenchSupport.nbdServer("primary", run.resolve("a-nbd"), work.resolve("a-disks"),
                4096, cleanup);
        NbdExports backupExports = BenchSupport.nbdServer("backup", run.resolve("b-nbd"), work.resolve("b-disks"),
                4096, cleanup);
        primaryQemu.setDiskExports(primaryExports);
        backupQemu.setDiskExports(backupExports);

        TransportSettings t = TransportSettings.defaults().withSecretFile(work.resolve("stream.secret"));
        backupStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("bench-b"));
        cleanup.add("close the backup's stream", backupStream::close);
        primaryStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("bench-a"));
        cleanup.add("close the primary's stream", primaryStream::close);

        // undone before the disks' servers and the streams close: the guests first, their engines before them
        cleanup.add("stop the guests", () -> {
            primaryQemu.destroyAll();
            backupQemu.destroyAll();
        });
        // the primary engine stops first: a protection still running would otherwise see its backup go away
        backup = new Engine(settings("bench-b"));
        cleanup.add("stop the backup engine", backup::shutdown);
        backup.addHypervisor(backupQemu);
        backup.addDiskReplicator(new NbdDiskReplicator(backupExports), "nbd", 0);
        backup.setTransport(backupStream);
        primary = new Engine(settings("bench-a"));
        cleanup.add("stop the primary engine", primary::shutdown);
        primary.addHypervisor(primaryQemu);
        primary.addOutputBufferProvider(repliesHeld ? new NfqueueProvider(NfqueueSettings.defaults(),
                LinuxNetlink.load()) : new UnheldOutput(), 0);
        primaryDisks = new TimedDiskReplicator(new NbdDiskReplicator(primaryExports));
        primary.addDiskReplicator(primaryDisks, "nbd", 0);
        primary.setTransport(primaryStream);
    }

    /**
     * Sets the nodes up under {@code run} (tmpfs: guest RAM, sockets, consoles) and {@code work} (a real disk: the
     * backup's copy of the guest's disk).
     */
    static DebianBenchNodes start(Path run, Path work, Path preload, Path scripts, Cleanup cleanup)
            throws Exception {
        return start(run, work, preload, scripts, true, cleanup);
    }

    /**
     * As {@link #start(Path, Path, Path, Path, Cleanup)}; with {@code repliesHeld} false the primary's output is not
     * held at all ({@link UnheldOutput}: breaks I1, for a benchmark's decomposition only).
     */
    static DebianBenchNodes start(Path run, Path work, Path preload, Path scripts, boolean repliesHeld,
                                  Cleanup cleanup) throws Exception {
        Path netlab = scripts.resolve("netlab");
        if (!Files.isExecutable(netlab)) {
            throw new IllegalStateException(netlab.toAbsolutePath() + " is missing");
        }
        if (!Files.isReadable(preload)) {
            throw new IllegalStateException(preload.toAbsolutePath() + " is missing: build native/ first");
        }
        String prefix = "rb" + Long.toString(ProcessHandle.current().pid() % 100_000, 36);
        return new DebianBenchNodes(prefix, run, work, preload, netlab, repliesHeld, cleanup);
    }

    private static QemuSettings settings(Path runDir, Path diskDir, Path preload, String netns) {
        // the demo guest's kernel and initramfs are not used: the Debian guest boots from its own disk
        return new QemuSettings("qemu-system-x86_64", "tcg", runDir, Path.of("/nonexistent/vmlinuz"),
                Path.of("/nonexistent/initramfs.cpio.gz"), preload, "uffd", netns, "br0", 10_000, diskDir,
                QemuSettings.DEFAULT_LIBVIRT_URI);
    }

    private static EngineSettings settings(String node) {
        return new EngineSettings(node, 25, 1, 10_000, HISTORY, 5000, 50, 4, 256, EngineSettings.FailoverMode.MANUAL,
                7490, false);
    }

    InetSocketAddress backupAddress() {
        return InetSocketAddress.createUnresolved("127.0.0.1", backupStream.listenAddress().getPort());
    }

    /** The console of guest {@code name} on the primary host. */
    Path console(String name) {
        return run.resolve("a").resolve(name).resolve("console.log");
    }

    /** Starts {@code command} on the client host, its output (stdout and stderr) to {@code output}. */
    Process inClient(List<String> command, Path output) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", prefix + "-c"));
        cmd.addAll(command);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        clients.add(p);
        return p;
    }

    /** Runs {@code cmd} here to its end; it must succeed within {@code timeoutS}. Returns its output. */
    static String command(List<String> cmd, int timeoutS) throws IOException, InterruptedException {
        Path out = Files.createTempFile("romulus-bench-cmd", ".out");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                throw new IOException(String.join(" ", cmd) + ": still running after " + timeoutS + " s");
            }
            String text = Files.readString(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + text);
            }
            return text;
        } finally {
            Files.deleteIfExists(out);
        }
    }

    @Override
    public String toString() {
        return "hosts " + prefix + "-{a,b,c} (" + netlab + ")";
    }
}
