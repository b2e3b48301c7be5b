package io.romulus.itests.e2e;

import static io.romulus.itests.e2e.BenchSupport.await;
import static io.romulus.itests.e2e.BenchSupport.committed;
import static io.romulus.itests.e2e.BenchSupport.state;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.engine.internal.Engine;
import io.romulus.engine.internal.EngineSettings;
import io.romulus.qemu.internal.QemuHypervisor;

/**
 * The QEMU benchmark: the demo guest under TCG, a primary and a backup engine in one JVM joined by the MINA stream on
 * loopback. It prints, side by side from one run:
 * <ul>
 * <li>the speed of a CPU-and-memory workload in the guest (its dirtier writing flat out) unprotected, protected at the
 * epoch interval, and unprotected again;</li>
 * <li>per guest dirty rate: pause time per checkpoint beside the memcpy time of the same number of pages, the p99
 * pause, the time to ACK and the sustained checkpoint rate;</li>
 * <li>per guest: where the pause went, part by part, beside the floor measured on the same guest before it was
 * protected ({@link PauseFloor});</li>
 * <li>the time to resume the guest of the last dirty rate on the backup from its replica (failover restore);</li>
 * <li>per guest, after its phase: its protection at each epoch interval of {@code --run-times} in turn.</li>
 * </ul>
 * It plots (in {@code --out}, SVG with the figures as CSV beside) the seed paper's Fig. 3, where the pause went per
 * guest ({@code pause-breakdown.svg}), and its Fig. 2, dirty pages per epoch against the time the guest ran in it
 * ({@code dirty-pages.svg}).
 * Each phase ends as an operator would end it: protection stops (on both nodes) before its guest is stopped, so that
 * the engines report nothing but what the phase measured.
 * Run it with {@code scripts/bench-qemu [--interval 25] [--seconds 15] [--rates 500,2000,8000]
 * [--run-times 10,25,50,100,200] [--sweep-seconds 4] [--out itests/e2e/target/bench-qemu]}.
 */
public final class QemuBenchmark {

    private static final Pattern RATE = Pattern.compile("romulus-dirtier: rate (\\d+) pages/s");
    /** Stop, device state, cont cycles on each guest before it is protected: the floor of its pauses. */
    private static final int FLOOR_CYCLES = 200;

    private QemuBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = BenchSupport.parse(args, List.of("interval", "seconds", "rates", "run-times",
                "sweep-seconds", "out", "guest", "preload"));
        int interval = Integer.parseInt(a.getOrDefault("interval", "25"));
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "15"));
        int[] rates = Arrays.stream(a.getOrDefault("rates", "500,2000,8000").split(",")).mapToInt(Integer::parseInt)
                .toArray();
        int[] runTimes = Arrays.stream(a.getOrDefault("run-times", "10,25,50,100,200").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int sweepSeconds = Integer.parseInt(a.getOrDefault("sweep-seconds", "4"));
        Path out = Path.of(a.getOrDefault("out", "itests/e2e/target/bench-qemu"));
        Path guest = Path.of(a.getOrDefault("guest", "native/target/guest"));
        Path preload = Path.of(a.getOrDefault("preload", "native/target/lib/libromulus-uffd.so"));
        Path run = Path.of("/dev/shm", "romulus-bench-" + ProcessHandle.current().pid());
        try (Cleanup cleanup = new Cleanup()) {
            Path dir = Files.createTempDirectory("romulus-bench");
            cleanup.deleteTree(dir);
            cleanup.deleteTree(run);
            QemuHypervisor primaryQemu = BenchSupport.demoGuests(run.resolve("a"), guest, preload, cleanup);
            QemuHypervisor backupQemu = BenchSupport.demoGuests(run.resolve("b"), guest, preload, cleanup);
            // the failover below is the operator's: an activated replica is not protected back towards the primary.
            // The interval is fixed: the figures are those of the interval asked for, not of what an adaptive one
            // would make of it
            BenchSupport.Nodes nodes = BenchSupport.nodes(dir,
                    EngineSettings.defaults("bench-a").withInterval(interval)
                            .withIntervalPolicy(EngineSettings.IntervalPolicy.FIXED),
                    EngineSettings.defaults("bench-b").withReprotect(false), cleanup);
            Engine primary = nodes.primary();
            Engine backup = nodes.backup();
            primary.addHypervisor(primaryQemu);
            backup.addHypervisor(backupQemu);
            InetSocketAddress peer = nodes.backupAddress();
            System.out.printf("Romulus QEMU benchmark: the demo guest (128 MiB, TCG), %d ms epochs, %d s per phase, MINA"
                    + " stream on loopback; then %d s at each epoch interval of %s ms per guest%n%n", interval, seconds,
                    sweepSeconds, Arrays.toString(runTimes));
            // the figures: the pause's parts per guest (Fig. 3) and dirty pages against run time per guest (Fig. 2)
            Map<String, List<EpochStats>> phases = new LinkedHashMap<>();
            Map<String, SortedMap<Integer, List<EpochStats>>> sweeps = new LinkedHashMap<>();

            // 1. a CPU-and-memory workload: unprotected, protected, unprotected again, in one guest
            DomainId work = DomainId.parse("qemu:bench-work");
            ProtectedDomain booted = primaryQemu.open(work, Map.of("memory", "128M", "dirty-rate", "-1",
                    "dirty-mib", "32"));
            Path console = run.resolve("a").resolve(work.name()).resolve("console.log");
            await(() -> printed(console) >= 3, 180);
            CpuLedger.Snapshot c1 = CpuLedger.nodes(run);
            double before = mean(console, seconds);
            CpuLedger.Phase cpuBefore = CpuLedger.between(c1, CpuLedger.nodes(run));
            PauseFloor workFloor = PauseFloor.measure(booted, FLOOR_CYCLES, interval);
            // the same guest only paused as checkpoints pause it, then also tracked and copied, nothing sent: what
            // this machine leaves the workload before the stream's work (PauseCycles)
            PauseCycles.Measured<Double> paused = PauseCycles.measure(booted, interval, false, run,
                    () -> mean(console, seconds));
            PauseCycles.Measured<Double> trackedRun = PauseCycles.measure(booted, interval, true, run,
                    () -> mean(console, seconds));
            double pausedOnly = paused.result();
            double tracked = trackedRun.result();
            CpuLedger.Phase cpuPaused = paused.cpu();
            CpuLedger.Phase cpuTracked = trackedRun.cpu();
            booted.close(); // the guest runs on, unprotected
            primary.protect(new ProtectRequest(work, peer, interval, Map.of()));
            await(() -> state(primary, work, Role.PRIMARY) == ProtectionState.PROTECTED, 300);
            CpuLedger.Snapshot c2 = CpuLedger.nodes(run);
            double during = mean(console, seconds);
            CpuLedger.Phase cpuDuring = CpuLedger.between(c2, CpuLedger.nodes(run));
            List<EpochStats> workEpochs = primary.epochs(work, 1000);
            EngineCpu workBackupCpu = BenchSupport.backupCpu(backup, work);
            phases.put("flat out", workEpochs);
            sweeps.put("dirtier flat out (32 MiB)", sweep(primary, work, runTimes, sweepSeconds));
            BenchSupport.unprotect(primary, backup, work);
            CpuLedger.Snapshot c3 = CpuLedger.nodes(run);
            double after = mean(console, seconds);
            CpuLedger.Phase cpuAfter = CpuLedger.between(c3, CpuLedger.nodes(run));
            System.out.println("Guest workload (dirtier writing flat out into 32 MiB, pages written per second)");
            System.out.printf("  %-36s %12.0f%n", "unprotected:", before);
            System.out.printf("  %-36s %12.0f   (%.2f of unprotected)%n", "protected at " + (1000 / interval) + " Hz:",
                    during, during / before);
            System.out.printf("  %-36s %12.0f%n", "unprotected again:", after);
            System.out.printf("  %-36s %12.0f   (%.2f; before it was protected, nothing sent)%n", "paused at "
                    + (1000 / interval) + " Hz, not protected:", pausedOnly, pausedOnly / before);
            System.out.printf("  %-36s %12.0f   (%.2f; the same pauses harvesting and copying its pages)%n",
                    "paused, tracked and copied:", tracked, tracked / before);
            Targets targets = new Targets();
            double workRatio = during / ((before + after) / 2);
            targets.check("guest workload >= 0.5 of unprotected at " + (1000 / interval) + " Hz", String.format(
                    Locale.ROOT, "%.2f of the mean of the unprotected phases (%.2f / %.2f of each)", workRatio,
                    during / before, during / after), workRatio >= 0.5);
            targets.note(String.format(Locale.ROOT, "what this machine leaves the workload before a byte is sent:"
                    + " %.2f paused only, %.2f paused, tracked and copied; protected / paused, tracked and copied: %.2f",
                    pausedOnly / before, tracked / before, during / tracked));
            List<CpuLedger.Phase> workCpu = List.of(cpuBefore, cpuPaused, cpuTracked, cpuDuring, cpuAfter);
            CpuLedger.table(List.of("unprotected", "paused only", "paused, tracked", "protected", "unprotected again"),
                    workCpu);
            List<Double> rate = List.of(before, pausedOnly, tracked, during, after);
            CpuLedger.row("pages written per second of vCPU time", java.util.stream.IntStream.range(0, rate.size())
                    .mapToObj(i -> rate.get(i) / (workCpu.get(i).msPerS(workCpu.get(i).group(CpuLedger.VCPU)) / 1000))
                    .toList(), "%.0f");
            CpuLedger.faultCost(cpuBefore, cpuDuring, "protected");
            CpuLedger.legend();
            System.out.println();
            primaryQemu.destroy(work.name());

            ByteBuffer src = ByteBuffer.allocateDirect(128 << 20);
            ByteBuffer dst = ByteBuffer.allocateDirect(128 << 20);
            System.out.println("Checkpoints of the guest (median over the phase; memcpy = the same number of scattered"
                    + " pages copied on this machine)");
            BenchSupport.checkpointHeader("rate p/s");
            List<Runnable> breakdown = new ArrayList<>();
            List<Runnable> costs = new ArrayList<>();
            costs.add(() -> EngineCost.row("flat out", workEpochs, workBackupCpu));
            long workMemcpy = BenchSupport.checkpointRow("flat out", workEpochs, src, dst);
            breakdown.add(() -> workFloor.row("flat out", workEpochs, workMemcpy));
            long restoreMs = -1;
            for (int i = 0; i < rates.length; i++) {
                DomainId id = DomainId.parse("qemu:bench-" + rates[i]);
                // protected once booted, as the workload above: the phase measures checkpoints at a steady dirty
                // rate, and the boot's burst of written pages is no part of it
                ProtectedDomain rateGuest = primaryQemu.open(id, Map.of("memory", "128M", "dirty-rate",
                        Integer.toString(rates[i])));
                Path rateConsole = run.resolve("a").resolve(id.name()).resolve("console.log");
                await(() -> contains(rateConsole, "ROMULUS-GUEST-READY"), 300);
                PauseFloor floor = PauseFloor.measure(rateGuest, FLOOR_CYCLES, interval);
                rateGuest.close(); // the guest runs on, unprotected until protected below
                primary.protect(new ProtectRequest(id, peer, interval, Map.of()));
                await(() -> committed(backup, id) >= 1, 300);
                long from = committed(backup, id);
                Thread.sleep(seconds * 1000L);
                List<EpochStats> stats = primary.epochs(id, (int) (committed(backup, id) - from));
                EngineCpu backupCpu = BenchSupport.backupCpu(backup, id);
                String label = Integer.toString(rates[i]);
                phases.put(rates[i] + " pages/s", stats);
                sweeps.put("dirtier " + rates[i] + " pages/s", sweep(primary, id, runTimes, sweepSeconds));
                long memcpy = BenchSupport.checkpointRow(label, stats, src, dst);
                breakdown.add(() -> floor.row(label, stats, memcpy));
                floor.check(targets, rates[i] + " pages/s", stats, memcpy, interval);
                costs.add(() -> EngineCost.row(label, stats, backupCpu));
                if (i < rates.length - 1) {
                    BenchSupport.unprotect(primary, backup, id);
                    primaryQemu.destroy(id.name());
                    continue;
                }
                // last, the primary host dies as far as the backup can tell: its engine lets go of the guest without
                // ending the protection (as for an engine update: the backup keeps its replica, and nothing on the
                // primary fails), and the guest is killed. The backup resumes the guest from its replica
                primary.handOver(dir.resolve("primary-engine.state"));
                primaryQemu.destroy(id.name());
                await(() -> state(backup, id, Role.BACKUP) == ProtectionState.STANDBY, 60);
                long t = System.nanoTime();
                backup.failover(id);
                restoreMs = (System.nanoTime() - t) / 1_000_000;
                backup.unprotect(id);
                backupQemu.destroy(id.name());
            }
            System.out.println();
            System.out.println("ratio = pause / memcpy of the same pages, per epoch, median; the pause also covers"
                    + " QMP stop and cont, the PAGEMAP_SCAN harvest and xen-save-devices-state.");
            System.out.println();
            System.out.println("Where the pause went (µs, median per part), beside the floor measured on the same guest");
            PauseFloor.header();
            breakdown.forEach(Runnable::run);
            PauseFloor.legend(FLOOR_CYCLES);
            System.out.println();
            EngineCost.header();
            costs.forEach(Runnable::run);
            EngineCost.legend();
            System.out.printf("%nFailover restore (QEMU started on the replica RAM file, device state loaded, cont,"
                    + " announce-self): %d ms%n", restoreMs);
            targets.note("the floor: QMP stop + device-state capture + cont on the same guest just before its protection,"
                    + " plus the memcpy of its dirty set (the table above); the workload's ratio: pages written per"
                    + " second, protected against unprotected before and after");
            targets.print();
            System.out.printf("%nPlots (and their figures as CSV beside them):%n  %s%n  %s%n",
                    Plots.pauseBreakdown(out.resolve("pause-breakdown.svg"), String.format("the demo guest's dirtier"
                            + " (mean dirty pages, run time per epoch), %d ms epochs, %d s each", interval, seconds),
                            phases).toAbsolutePath(),
                    Plots.dirtyPages(out.resolve("dirty-pages.svg"), sweeps).toAbsolutePath());
        }
    }

    /**
     * The seed's Fig. 2 for one guest: its protection checkpointed at each of {@code runTimes} (ms) in turn for
     * {@code seconds}, after a settling second, and the epochs of each. Leaves the last interval set.
     */
    private static SortedMap<Integer, List<EpochStats>> sweep(Engine primary, DomainId id, int[] runTimes,
            int seconds) throws InterruptedException {
        SortedMap<Integer, List<EpochStats>> byInterval = new TreeMap<>();
        for (int ms : runTimes) {
            primary.setInterval(id, ms);
            Thread.sleep(1000 + 2L * ms);
            long from = System.currentTimeMillis();
            Thread.sleep(seconds * 1000L);
            long to = System.currentTimeMillis();
            byInterval.put(ms, primary.epochs(id, Integer.MAX_VALUE).stream()
                    .filter(e -> e.startedMillis() >= from && e.startedMillis() <= to).toList());
        }
        return byInterval;
    }

    /** The dirtier's per-second rates printed on the console after the first {@code skip} characters. */
    private static long[] rates(Path console, long skip) throws IOException {
        if (!Files.exists(console)) {
            return new long[0];
        }
        String text = Files.readString(console, StandardCharsets.ISO_8859_1);
        Matcher m = RATE.matcher(text.substring((int) Math.min(skip, text.length())));
        return m.results().mapToLong(r -> Long.parseLong(r.group(1))).toArray();
    }

    private static boolean contains(Path console, String text) {
        try {
            return Files.exists(console) && Files.readString(console, StandardCharsets.ISO_8859_1).contains(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int printed(Path console) {
        try {
            return rates(console, 0).length;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The mean of the rates the guest prints over the next {@code seconds}. */
    private static double mean(Path console, int seconds) throws IOException, InterruptedException {
        long skip = Files.size(console);
        Thread.sleep(seconds * 1000L);
        long[] r = rates(console, skip);
        if (r.length == 0) {
            throw new IllegalStateException("the guest printed no rate in " + seconds + " s");
        }
        return Arrays.stream(r).average().orElse(0);
    }
}
