package io.romulus.itests.e2e;

import static io.romulus.itests.e2e.BenchSupport.await;
import static io.romulus.itests.e2e.BenchSupport.state;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.engine.internal.Engine;
import io.romulus.engine.internal.EngineSettings;
import io.romulus.nbd.internal.NbdDiskReplicator;
import io.romulus.nbd.internal.NbdExports;
import io.romulus.qemu.internal.QemuHypervisor;

/**
 * The disk benchmark: the demo guest (TCG) with a 64 MiB ext4 disk on this node's NBD export, writing rounds of 4 KiB
 * blocks each followed by fdatasync (its own timing, printed on the console), first unprotected, then protected at the
 * epoch interval with the disk replicated per epoch to a backup engine over the MINA stream on loopback, then
 * unprotected again. One run, side by side: write throughput and the latency of one write + fdatasync, and their
 * ratios protected / unprotected. Output commit is not part of these figures (the guest times its own writes; a
 * client would also wait for the epoch's ACK).
 * Run it with {@code scripts/bench-disk [--interval 25] [--seconds 15] [--blocks 64]}.
 */
public final class DiskBenchmark {

    private static final Pattern ROUND = Pattern.compile(
            "romulus-diskbench (\\d+) (\\d+) (\\d+) (\\d+) (\\d+) (\\d+)");

    private DiskBenchmark() {
    }

    /** One phase's rounds: total bytes, total time, and every round's p50/p99/max write latency. */
    record Phase(long bytes, long micros, long[] p50, long[] p99, long[] max) {

        double mibPerSecond() {
            return micros == 0 ? 0 : bytes / (double) (1 << 20) / (micros / 1e6);
        }

        static long median(long[] v) {
            long[] s = v.clone();
            Arrays.sort(s);
            return s.length == 0 ? 0 : s[s.length / 2];
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = BenchSupport.parse(args, List.of("interval", "seconds", "blocks", "guest", "preload"));
        int interval = Integer.parseInt(a.getOrDefault("interval", "25"));
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "15"));
        int blocks = Integer.parseInt(a.getOrDefault("blocks", "64"));
        Path guest = Path.of(a.getOrDefault("guest", "native/target/guest"));
        Path preload = Path.of(a.getOrDefault("preload", "native/target/lib/libromulus-uffd.so"));
        Path run = Path.of("/dev/shm", "romulus-diskbench-" + ProcessHandle.current().pid());
        try (Cleanup cleanup = new Cleanup()) {
            Path dir = Files.createTempDirectory("romulus-diskbench");
            cleanup.deleteTree(dir);
            cleanup.deleteTree(run);
            // undone last to first: the engines and their streams, the guests, their disks
            NbdExports primaryDisks = BenchSupport.nbdServer("primary", run.resolve("a-nbd"), run.resolve("a-disks"),
                    1024, cleanup);
            NbdExports backupDisks = BenchSupport.nbdServer("backup", run.resolve("b-nbd"), run.resolve("b-disks"),
                    1024, cleanup);
            QemuHypervisor primaryQemu = BenchSupport.demoGuests(run.resolve("a"), guest, preload, cleanup);
            QemuHypervisor backupQemu = BenchSupport.demoGuests(run.resolve("b"), guest, preload, cleanup);
            primaryQemu.setDiskExports(primaryDisks);
            backupQemu.setDiskExports(backupDisks);
            BenchSupport.Nodes nodes = BenchSupport.nodes(dir,
                    EngineSettings.defaults("bench-a").withInterval(interval), EngineSettings.defaults("bench-b"),
                    cleanup);
            Engine primary = nodes.primary();
            Engine backup = nodes.backup();
            primary.addHypervisor(primaryQemu);
            primary.addDiskReplicator(new NbdDiskReplicator(primaryDisks), "nbd", 0);
            backup.addHypervisor(backupQemu);
            backup.addDiskReplicator(new NbdDiskReplicator(backupDisks), "nbd", 0);
            InetSocketAddress peer = nodes.backupAddress();

            DomainId id = DomainId.parse("qemu:bench-disk");
            ProtectedDomain booted = primaryQemu.open(id, Map.of("memory", "128M", "disk", "64M", "disk-bench",
                    Integer.toString(blocks)));
            booted.close(); // the guest runs on, unprotected
            Path console = run.resolve("a").resolve(id.name()).resolve("console.log");
            await(() -> rounds(console, 0).size() >= 3, 180);
            System.out.printf("Romulus disk benchmark: the demo guest (128 MiB, TCG) writing rounds of %d blocks of 4 KiB,"
                    + " fdatasync after each, to ext4 on an NBD export; %d ms epochs; %d s per phase; MINA stream on"
                    + " loopback%n%n", blocks, interval, seconds);
            Phase before = phase(console, seconds);
            primary.protect(new ProtectRequest(id, peer, interval, Map.of()));
            await(() -> state(primary, id, Role.PRIMARY) == ProtectionState.PROTECTED, 300);
            Phase during = phase(console, seconds);
            BenchSupport.unprotect(primary, backup, id);
            Phase after = phase(console, seconds);
            System.out.printf("  %-30s %10s %12s %12s %12s%n", "", "MiB/s", "p50 us", "p99 us", "max us");
            row("unprotected", before, before);
            row("protected at " + (1000 / interval) + " Hz", during, before);
            row("unprotected again", after, before);
            System.out.println();
            System.out.println("Per-round p50/p99/max are medians over the phase's rounds; ratios are to the first"
                    + " unprotected phase of the same guest in this run.");
        }
    }

    private static void row(String label, Phase p, Phase base) {
        System.out.printf("  %-30s %10.2f %12d %12d %12d   (throughput %.2f, p50 %.2f of unprotected)%n", label + ":",
                p.mibPerSecond(), Phase.median(p.p50()), Phase.median(p.p99()), Phase.median(p.max()),
                p.mibPerSecond() / base.mibPerSecond(), Phase.median(p.p50()) / (double) Phase.median(base.p50()));
    }

    /** The rounds the guest prints over the next {@code seconds}. */
    private static Phase phase(Path console, int seconds) throws Exception {
        long skip = Files.size(console);
        Thread.sleep(seconds * 1000L);
        List<long[]> r = rounds(console, skip);
        if (r.isEmpty()) {
            throw new IllegalStateException("the guest printed no disk round in " + seconds + " s");
        }
        long bytes = 0;
        long micros = 0;
        for (long[] x : r) {
            bytes += x[0] * x[1] * 1024;
            micros += x[2];
        }
        return new Phase(bytes, micros, r.stream().mapToLong(x -> x[3]).toArray(),
                r.stream().mapToLong(x -> x[4]).toArray(), r.stream().mapToLong(x -> x[5]).toArray());
    }

    private static List<long[]> rounds(Path console, long skip) {
        List<long[]> out = new ArrayList<>();
        try {
            if (!Files.exists(console)) {
                return out;
            }
            String text = Files.readString(console, StandardCharsets.ISO_8859_1);
            Matcher m = ROUND.matcher(text.substring((int) Math.min(skip, text.length())));
            while (m.find()) {
                long[] v = new long[6];
                for (int i = 0; i < 6; i++) {
                    v[i] = Long.parseLong(m.group(i + 1));
                }
                out.add(v);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }
}
