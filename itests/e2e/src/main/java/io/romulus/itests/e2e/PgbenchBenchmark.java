package io.romulus.itests.e2e;

import static io.romulus.itests.e2e.BenchSupport.await;
import static io.romulus.itests.e2e.BenchSupport.percentile;
import static io.romulus.itests.e2e.BenchSupport.row;
import static io.romulus.itests.e2e.BenchSupport.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ProtectedDomain;

/**
 * The figures of a real database VM: the Debian 12 guest of native/debian (512 MiB, 1 vCPU under TCG, its 2 GiB disk
 * served by the primary node's NBD server), defined by a libvirt domain XML, on the netlab hosts, with NFQUEUE output
 * commit, as DebianGuestFailoverTest runs it. One guest, one boot, one run, side by side:
 * <ol>
 * <li>boot to service (QEMU start to ROMULUS-DEBIAN-READY) of the guest booted by Romulus unprotected; the time from
 * asking for protection to PROTECTED (initial copy of RAM and of the whole disk, first ACK), and the disk copy's
 * throughput beside a plain {@code cp --sparse=never} of the same image on the same file system;</li>
 * <li>pgbench (TPC-B-like, from the client host) TPS and latency (mean, p99 from the per-transaction log) unprotected,
 * protected at 40 Hz, protected at 10 Hz (the same protection, its interval changed), unprotected again;</li>
 * <li>the checkpoints under pgbench at each rate: pause and dirty pages per epoch (median, p99), checkpoints per
 * second, from the engine's epoch history.</li>
 * </ol>
 * It plots (in {@code --out}, SVG with the figures as CSV beside) dirty pages per epoch against the time the guest ran
 * in it at the two rates (the seed paper's Fig. 2, {@code dirty-pages.svg}) and where the pause went at each (its
 * Fig. 3, {@code pause-breakdown.svg}).
 * Run it with {@code scripts/bench-debian [--seconds 40] [--clients 4] [--scale 4]
 * [--out itests/e2e/target/bench-debian]}.
 */
public final class PgbenchBenchmark {

    private static final DomainId GUEST = DomainId.parse("qemu:pg");
    private static final double MIB = 1 << 20;
    /** A pause between phases, so that one's tail does not fall into the next. */
    private static final long SETTLE_MS = 3000;
    /** Pages of the buffers the memcpy of a dirty set is measured in (64 MiB). */
    private static final int MEMCPY_PAGES = 16_384;
    /** The warm-up run's seconds. */
    private static final int WARM_UP_S = 10;
    /** Stop, device state, cont cycles of the pause's floor. */
    private static final int FLOOR_CYCLES = 200;
    /** The cost of the first write to a write-protected page on this machine, µs (shared/PITFALLS.md). */

    private PgbenchBenchmark() {
    }

    /** The boot and the initial copy. */
    private record Protection(double bootS, double openS, double protectS, double ramS, double diskS, double ackS,
            long diskBytes, long wireBytes) {
    }

    /** The checkpoints of one protected phase: the epochs that started while its transactions ran. */
    private record Rate(String label, List<EpochStats> epochs, Pgbench.Run run) {

        static Rate of(String label, List<EpochStats> all, Pgbench.Run run) {
            return new Rate(label, all.stream().filter(e -> e.startedMillis() >= run.firstMillis()
                    && e.startedMillis() <= run.lastMillis()).toList(), run);
        }

        double windowSeconds() {
            return Math.max(1, run.lastMillis() - run.firstMillis()) / 1000.0;
        }

        /** The share of the phase the guest was paused by its checkpoints. */
        double pausedShare() {
            return epochs.stream().mapToLong(EpochStats::pauseNanos).sum() / 1e9 / windowSeconds();
        }
    }

    /** The plain copy of the image beside which the disk's initial copy is put. */
    private record PlainCopy(long bytes, double copyS, double syncS) {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = BenchSupport.parse(args, List.of("seconds", "clients", "scale", "debian", "preload",
                "scripts", "out", "replies-held"));
        Path out = Path.of(a.getOrDefault("out", "itests/e2e/target/bench-debian"));
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "40"));
        int clients = Integer.parseInt(a.getOrDefault("clients", "4"));
        int scale = Integer.parseInt(a.getOrDefault("scale", "4"));
        String held = a.getOrDefault("replies-held", "true");
        if (!held.equals("true") && !held.equals("false")) {
            throw new IllegalArgumentException("--replies-held is true or false, not " + held);
        }
        boolean repliesHeld = held.equals("true");
        Path debian = DebianGuest.directory(Path.of(a.getOrDefault("debian",
                System.getProperty("romulus.debian.dir", "native/target/debian"))));
        Path preload = Path.of(a.getOrDefault("preload", "native/target/lib/libromulus-uffd.so"));
        Path scripts = Path.of(a.getOrDefault("scripts", "scripts"));
        if (seconds < 5 || clients < 1 || scale < 1) {
            throw new IllegalArgumentException("--seconds must be at least 5, --clients and --scale at least 1");
        }
        String loadBefore = uptime();
        int otherQemus = otherQemus(Path.of("/nonexistent"));

        try (Cleanup cleanup = new Cleanup()) {
            Path work = Files.createTempDirectory("romulus-pgbench");
            cleanup.deleteTree(work);
            Path run = Path.of("/dev/shm", "romulus-pgbench-" + ProcessHandle.current().pid());
            FileStore fs = Files.getFileStore(work);
            System.out.printf("Romulus pgbench benchmark: the Debian 12 guest (%s; 512 MiB, 1 vCPU, TCG; 2 GiB raw disk"
                    + " over NBD; NFQUEUE output commit), pgbench -c %d -j %d, %d s per phase, scale %d%n",
                    debian.toAbsolutePath().normalize(), clients, Math.min(2, clients), seconds, scale);
            System.out.printf("Files in %s (%s, %s); guest RAM in %s%n", work, fs.name(), fs.type(), run);
            System.out.printf("Load before: %s; other QEMU processes on the machine: %d%n%n", loadBefore, otherQemus);

            // the user's image: a copy, since the guest writes to it
            Path image = work.resolve("pg.img");
            progress("copying the image to " + image);
            DebianBenchNodes.command(List.of("cp", "--sparse=always", debian.resolve("debian.img").toString(),
                    image.toString()), 600);
            Path xml = work.resolve("pg.xml");
            Files.writeString(xml, DebianGuest.domainXml(image));
            Path logs = Files.createDirectories(work.resolve("pgbench"));

            DebianBenchNodes nodes = DebianBenchNodes.start(run, work, preload, scripts, repliesHeld, cleanup);
            if (!repliesHeld) {
                System.out.println("--replies-held false: the protected phases hold NO reply (invariant I1 broken on"
                        + " purpose): they measure the checkpoints' own cost without output commit's.\n");
            }
            progress("nodes up on " + nodes);
            Pgbench pgbench = new Pgbench(nodes, logs, clients);

            // 1. boot, unprotected
            progress("booting the guest, unprotected");
            long t0 = System.nanoTime();
            ProtectedDomain booted = nodes.primaryQemu.open(GUEST, Map.of("xml", xml.toString()));
            long opened = System.nanoTime();
            awaitConsole(nodes.console(GUEST.name()), DebianGuest.READY, 600);
            long ready = System.nanoTime();
            progress(String.format("ready after %.1f s; pgbench -i -s %d", seconds(ready - t0), scale));
            long i0 = System.nanoTime();
            pgbench.init(scale);
            double initS = seconds(System.nanoTime() - i0);
            // a run nobody measures: the database settles after -i (its first writes, its caches) before phase 1
            progress("warm-up, " + WARM_UP_S + " s, not measured");
            pgbench.run("warm-up", WARM_UP_S);

            // 2. phase 1: unprotected
            progress("phase 1: unprotected");
            CpuLedger.Snapshot c1 = CpuLedger.nodes(run);
            Pgbench.Run before = pgbench.run("phase1-unprotected", seconds);
            CpuLedger.Phase cpu1 = CpuLedger.between(c1, CpuLedger.nodes(run));

            // the pause's floor on this guest, idle, just before it is protected (as bench-qemu measures it)
            progress("the pause's floor: " + FLOOR_CYCLES + " x (stop, device state, cont)");
            PauseFloor floor = PauseFloor.measure(booted, FLOOR_CYCLES, 25);

            // phase 1b: not protected, only paused as checkpoints at 40 Hz pause it: the most any protection at 40 Hz
            // can leave pgbench of its speed on this machine
            progress("phase 1b: paused at 40 Hz (stop, device state, cont), not protected");
            PauseCycles.Measured<Pgbench.Run> pausedOnly = PauseCycles.measure(booted, 25, false, run,
                    () -> pgbench.run("phase1b-paused-only", seconds));
            // phase 1c: the same pauses with the dirty log harvested and the pages copied in each: all a checkpoint
            // does to the guest but sending it
            progress("phase 1c: paused at 40 Hz with the dirty log harvested and copied, not protected");
            PauseCycles.Measured<Pgbench.Run> tracked = PauseCycles.measure(booted, 25, true, run,
                    () -> pgbench.run("phase1c-paused-tracked", seconds));
            booted.close(); // it runs on, unprotected

            // the plain copy of the same image, on the same file system, just before the protection copies it
            progress("plain copy of the image");
            PlainCopy plain = plainCopy(image, work.resolve("plain-copy.img"));

            // protection asked for: the initial copy of RAM and disk, then the first ACK
            progress("protecting the guest (40 Hz)");
            long wire0 = nodes.primaryStream.stats().bytesSent();
            long p0 = System.nanoTime();
            nodes.primary.protect(new ProtectRequest(GUEST, nodes.backupAddress(), 25, Map.of("xml",
                    xml.toString())));
            await(() -> state(nodes.primary, GUEST, Role.PRIMARY) == ProtectionState.PROTECTED, 900);
            long p1 = System.nanoTime();
            TimedDiskReplicator disks = nodes.primaryDisks;
            Protection protection = new Protection(seconds(ready - t0), seconds(opened - t0), seconds(p1 - p0),
                    seconds(disks.copyStartedNanos() - p0), seconds(disks.copyEndedNanos() - disks.copyStartedNanos()),
                    seconds(p1 - disks.copyEndedNanos()), disks.copyBytes(),
                    nodes.primaryStream.stats().bytesSent() - wire0);
            progress(String.format("PROTECTED after %.1f s", protection.protectS()));

            // phase 2: protected at 40 Hz
            Thread.sleep(SETTLE_MS);
            progress("phase 2: protected at 40 Hz");
            CpuLedger.Snapshot c2 = CpuLedger.nodes(run);
            Pgbench.Run at40 = pgbench.run("phase2-40hz", seconds);
            CpuLedger.Phase cpu2 = CpuLedger.between(c2, CpuLedger.nodes(run));
            Rate rate40 = Rate.of("40 Hz (25 ms)", nodes.primary.epochs(GUEST, Integer.MAX_VALUE), at40);
            String state40 = describe(row(nodes.primary, GUEST, Role.PRIMARY));

            // phase 3: the same protection at 10 Hz
            nodes.primary.setInterval(GUEST, 100);
            Thread.sleep(SETTLE_MS);
            progress("phase 3: protected at 10 Hz");
            CpuLedger.Snapshot c3 = CpuLedger.nodes(run);
            Pgbench.Run at10 = pgbench.run("phase3-10hz", seconds);
            CpuLedger.Phase cpu3 = CpuLedger.between(c3, CpuLedger.nodes(run));
            Rate rate10 = Rate.of("10 Hz (100 ms)", nodes.primary.epochs(GUEST, Integer.MAX_VALUE), at10);
            String state10 = describe(row(nodes.primary, GUEST, Role.PRIMARY));

            // phase 4: unprotected again (the guest runs on)
            BenchSupport.unprotect(nodes.primary, nodes.backup, GUEST);
            Thread.sleep(SETTLE_MS);
            progress("phase 4: unprotected again");
            CpuLedger.Snapshot c4 = CpuLedger.nodes(run);
            Pgbench.Run after = pgbench.run("phase4-unprotected", seconds);
            CpuLedger.Phase cpu4 = CpuLedger.between(c4, CpuLedger.nodes(run));
            int otherQemusAfter = otherQemus(run);

            printBoot(protection, plain, initS, scale);
            printPgbench(before, pausedOnly, tracked, at40, at10, after, seconds);
            printCheckpoints(List.of(rate40, rate10), disks);
            printFloor(floor, List.of(rate40, rate10));
            Targets targets = new Targets();
            double unprotected = (before.tps() + after.tps()) / 2;
            targets.check("pgbench TPS >= 0.7 of unprotected at 40 Hz", String.format(Locale.ROOT,
                    "%.2f (%.1f TPS against %.1f)", at40.tps() / unprotected, at40.tps(), unprotected),
                    at40.tps() / unprotected >= 0.7);
            targets.note(String.format(Locale.ROOT, "what this machine leaves it at 40 Hz before a byte is sent: %.2f"
                    + " paused only, %.2f paused, tracked and copied; protected / paused, tracked and copied: %.2f",
                    pausedOnly.result().tps() / unprotected, tracked.result().tps() / unprotected,
                    at40.tps() / tracked.result().tps()));
            floor.check(targets, "Debian guest under pgbench, 40 Hz", rate40.epochs(), memcpyMedian(rate40), 25);
            printCpu(List.of("unprotected", "paused only", "paused, tracked", "40 Hz", "10 Hz", "unprotected again"),
                    List.of(cpu1, pausedOnly.cpu(), tracked.cpu(), cpu2, cpu3, cpu4),
                    List.of(before, pausedOnly.result(), tracked.result(), at40, at10, after),
                    List.of(Optional.<Double>empty(), Optional.of(pausedOnly.cycles().pausedShare()),
                            Optional.of(tracked.cycles().pausedShare()), Optional.of(rate40.pausedShare()),
                            Optional.of(rate10.pausedShare()), Optional.<Double>empty()));
            targets.print();
            System.out.printf("%nProtection state at the end of the 40 Hz phase: %s; of the 10 Hz phase: %s%n", state40,
                    state10);
            System.out.printf("Load after: %s; other QEMU processes on the machine: %d%n", uptime(),
                    otherQemusAfter);
            SortedMap<Integer, List<EpochStats>> byInterval = new TreeMap<>(Map.of(25, rate40.epochs(), 100,
                    rate10.epochs()));
            Map<String, List<EpochStats>> phases = new LinkedHashMap<>();
            phases.put(rate40.label(), rate40.epochs());
            phases.put(rate10.label(), rate10.epochs());
            System.out.printf("%nPlots (and their figures as CSV beside them):%n  %s%n  %s%n",
                    Plots.dirtyPages(out.resolve("dirty-pages.svg"), Map.of("pgbench -c " + clients + " (Debian guest)",
                            byInterval)).toAbsolutePath(),
                    Plots.pauseBreakdown(out.resolve("pause-breakdown.svg"), String.format("pgbench -c %d in the Debian"
                            + " guest at each epoch interval (mean dirty pages, run time per epoch), %d s each",
                            clients, seconds), phases).toAbsolutePath());
        }
    }

    private static void printBoot(Protection p, PlainCopy plain, double initS, int scale) {
        System.out.println("1. Boot and protection (one guest, one run)");
        System.out.printf("  %-78s %9s%n", "", "seconds");
        System.out.printf("  %-78s %9.1f%n", "boot to service, unprotected (QEMU start to ROMULUS-DEBIAN-READY)",
                p.bootS());
        System.out.printf("  %-78s %9.1f%n", "  of which starting QEMU and connecting QMP (the binding's open)",
                p.openS());
        System.out.printf("  %-78s %9.1f%n", "pgbench -i -s " + scale + " (once, before phase 1)", initS);
        System.out.printf("  %-78s %9.1f%n", "protection asked for, to PROTECTED (running guest, copied whole)",
                p.protectS());
        System.out.printf("  %-78s %9.1f%n", "  connect + initial copy of RAM (512 MiB)", p.ramS());
        System.out.printf("  %-78s %9.1f%n", String.format("  initial copy of the disk (%.0f MiB, NBD read -> MINA ->"
                + " backup's file)", p.diskBytes() / MIB), p.diskS());
        System.out.printf("  %-78s %9.1f%n",
                "  end of the copy to PROTECTED (backup's fdatasync, first checkpoint's ACK)", p.ackS());
        System.out.printf("  (the initial copy sent %.0f MiB on the wire for %.0f MiB of RAM and disk)%n%n",
                p.wireBytes() / MIB, 512 + p.diskBytes() / MIB);

        double romulus = p.diskBytes() / MIB / p.diskS();
        double cp = plain.bytes() / MIB / plain.copyS();
        double cpSync = plain.bytes() / MIB / (plain.copyS() + plain.syncS());
        System.out.println("  Disk copy throughput, same image, same file system");
        System.out.printf("  %-78s %9s %9s%n", "", "MiB/s", "seconds");
        System.out.printf("  %-78s %9.1f %9.1f%n", "Romulus: initial copy of the disk (to the backup's page cache)",
                romulus, p.diskS());
        System.out.printf("  %-78s %9.1f %9.1f%n", "cp --sparse=never of the image (page cache NOT dropped; no fsync)",
                cp, plain.copyS());
        System.out.printf("  %-78s %9.1f %9.1f%n", "cp --sparse=never, then sync of the copy (fsync)", cpSync,
                plain.copyS() + plain.syncS());
        System.out.printf("  Romulus disk copy / cp: %.2f; / (cp + sync): %.2f%n%n", romulus / cp, romulus / cpSync);
    }

    private static void printPgbench(Pgbench.Run before, PauseCycles.Measured<Pgbench.Run> pausedOnly,
            PauseCycles.Measured<Pgbench.Run> tracked, Pgbench.Run at40, Pgbench.Run at10, Pgbench.Run after,
            int seconds) {
        PauseCycles cycles = pausedOnly.cycles();
        PauseCycles trackedCycles = tracked.cycles();
        double tps = (before.tps() + after.tps()) / 2;
        double mean = (before.meanMillis() + after.meanMillis()) / 2;
        double p99 = (before.p99Millis() + after.p99Millis()) / 2;
        System.out.printf("2. pgbench, TPC-B-like, %d s per phase%n", seconds);
        System.out.printf("  %-28s %8s %10s %10s %8s %7s %11s %11s %11s%n", "phase", "TPS", "mean ms", "p99 ms",
                "txns", "failed", "TPS ratio", "mean ratio", "p99 ratio");
        for (Object[] r : new Object[][] {{"unprotected", before}, {"paused at 40 Hz, unprotected",
                pausedOnly.result()}, {"paused+tracked 40 Hz, unprot.", tracked.result()},
                {"protected at 40 Hz (25 ms)", at40},
                {"protected at 10 Hz (100 ms)", at10}, {"unprotected again", after}}) {
            Pgbench.Run x = (Pgbench.Run) r[1];
            System.out.printf("  %-28s %8.1f %10.2f %10.2f %8d %7d %11.2f %11.2f %11.2f%n", r[0], x.tps(),
                    x.meanMillis(), x.p99Millis(), x.processed(), x.failed(), x.tps() / tps, x.meanMillis() / mean,
                    x.p99Millis() / p99);
        }
        System.out.printf("  Ratios are against the mean of the two unprotected phases (TPS %.1f, mean %.2f ms, p99"
                + " %.2f ms). TPS is pgbench's (without initial connection time); mean and p99 are over every"
                + " transaction in pgbench's -l log. The 10 Hz phase is the 40 Hz protection with its interval changed"
                + " (romulus:interval), not a second protection: the guest was copied whole once.%n", tps, mean, p99);
        System.out.printf("  Paused at 40 Hz, unprotected: the guest stopped, its device state captured and resumed"
                + " through the binding every 25 ms (%.1f a second, %.2f ms median, %.1f%% of the time), nothing copied,"
                + " sent or held: the most any checkpointing at 40 Hz can leave pgbench here. Protected at 40 Hz /"
                + " paused only: %.2f.%n", cycles.perSecond(), cycles.medianMillis(), 100 * cycles.pausedShare(),
                at40.tps() / pausedOnly.result().tps());
        System.out.printf("  Paused and tracked at 40 Hz, unprotected: the same pauses, each also harvesting the dirty log"
                + " (the guest's writes write-protected, as under protection) and copying the written pages out (%.1f a"
                + " second, %.2f ms median, %.1f%% of the time): all a checkpoint does to the guest but sending it."
                + " Protected at 40 Hz / paused and tracked: %.2f.%n%n", trackedCycles.perSecond(),
                trackedCycles.medianMillis(), 100 * trackedCycles.pausedShare(), at40.tps() / tracked.result().tps());
    }

    private static void printCheckpoints(List<Rate> rates, TimedDiskReplicator disks) {
        System.out.println("3. Checkpoints under pgbench (the engine's epoch history over each phase's transactions)");
        System.out.printf("  %-16s %7s %7s %9s %8s %9s %7s %7s %8s %7s %9s %7s%n", "", "epochs", "ckpt/s",
                "pause ms", "p99 ms", "copy p99", "dirty", "p99", "ACK ms", "MB/s", "disk KiB", "p99");
        for (Rate r : rates) {
            checkpointRow(r, disks);
        }
        System.out.println("  pause (the guest stopped), copy (of which copying its dirty pages), dirty (4 KiB pages"
                + " per checkpoint), ACK (end of pause to the backup's ACK), disk (KiB of guest writes per checkpoint):"
                + " median, then p99; MB/s on the wire; ckpt/s over the phase's transactions.");
    }

    /**
     * Section 4: where the machine's CPU went in each phase, per process and group of threads (CpuLedger), and what
     * the guest's vCPU got of it: the guest's work per second of vCPU time and the share of the phase it was paused.
     */
    private static void printCpu(List<String> labels, List<CpuLedger.Phase> phases, List<Pgbench.Run> runs,
                                 List<Optional<Double>> paused) {
        CpuLedger.table(labels, phases);
        List<Double> tps = new ArrayList<>();
        for (int i = 0; i < phases.size(); i++) {
            CpuLedger.Phase p = phases.get(i);
            tps.add(runs.get(i).tps() / (p.msPerS(p.group(CpuLedger.VCPU)) / 1000));
        }
        CpuLedger.row("transactions per second of vCPU time", tps, "%.1f");
        CpuLedger.row("the guest paused, % of the phase", paused.stream().map(p -> p.map(x -> 100 * x)
                .orElse(Double.NaN)).toList(), "%.1f");
        CpuLedger.faultCost(phases.get(0), phases.get(2), "at 40 Hz");
        CpuLedger.legend();
    }

    private static void checkpointRow(Rate r, TimedDiskReplicator disks) {
        List<EpochStats> epochs = r.epochs();
        if (epochs.isEmpty()) {
            System.out.printf("  %-16s no checkpoint in the phase%n", r.label());
            return;
        }
        long[] pause = epochs.stream().mapToLong(EpochStats::pauseNanos).sorted().toArray();
        long[] copy = epochs.stream().mapToLong(EpochStats::copyNanos).sorted().toArray();
        long[] dirty = epochs.stream().mapToLong(EpochStats::dirtyPages).sorted().toArray();
        long[] ack = epochs.stream().filter(e -> e.ackNanos() >= 0).mapToLong(EpochStats::ackNanos).sorted().toArray();
        long[] disk = epochs.stream().mapToLong(e -> disks.writtenIn(e.epoch())).sorted().toArray();
        long wire = epochs.stream().mapToLong(EpochStats::wireBytes).sum();
        System.out.printf("  %-16s %7d %7.1f %9.2f %8.2f %9.2f %7d %7d %8.1f %7.2f %9d %7d%n", r.label(),
                epochs.size(), epochs.size() / r.windowSeconds(), percentile(pause, 0.5) / 1e6,
                percentile(pause, 0.99) / 1e6, percentile(copy, 0.99) / 1e6, percentile(dirty, 0.5),
                percentile(dirty, 0.99), percentile(ack, 0.5) / 1e6, wire / 1e6 / r.windowSeconds(),
                percentile(disk, 0.5) >> 10, percentile(disk, 0.99) >> 10);
    }

    /** The pause's parts beside its floor on the same guest (bench-qemu's table), per phase. */
    private static void printFloor(PauseFloor floor, List<Rate> rates) {
        System.out.println("  The pause beside its floor on this guest (µs):");
        PauseFloor.header();
        for (Rate r : rates) {
            floor.row(r.label().substring(0, r.label().indexOf(" (")), r.epochs(), memcpyMedian(r));
        }
        PauseFloor.legend(FLOOR_CYCLES);
    }

    /** The median over a phase's epochs of the memcpy of as many scattered pages as each dirtied, measured here now. */
    private static long memcpyMedian(Rate r) {
        ByteBuffer src = ByteBuffer.allocateDirect(MEMCPY_PAGES * 4096);
        ByteBuffer dst = ByteBuffer.allocateDirect(MEMCPY_PAGES * 4096);
        return BenchSupport.median(r.epochs().stream().mapToLong(e -> BenchSupport.memcpyNanos(src, dst,
                Math.min(e.dirtyPages(), MEMCPY_PAGES))).sorted().toArray());
    }

    private static PlainCopy plainCopy(Path image, Path copy) throws IOException, InterruptedException {
        try {
            long t0 = System.nanoTime();
            DebianBenchNodes.command(List.of("cp", "--sparse=never", image.toString(), copy.toString()), 600);
            long t1 = System.nanoTime();
            DebianBenchNodes.command(List.of("sync", copy.toString()), 600);
            long t2 = System.nanoTime();
            return new PlainCopy(Files.size(image), seconds(t1 - t0), seconds(t2 - t1));
        } finally {
            Files.deleteIfExists(copy);
        }
    }

    private static void awaitConsole(Path console, String text, int timeoutS) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        while (!Files.exists(console) || !Files.readString(console, StandardCharsets.ISO_8859_1).contains(text)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the guest did not print " + text + " in " + timeoutS + " s; see "
                        + console);
            }
            Thread.sleep(50);
        }
    }

    private static String describe(ProtectionStatus s) {
        return s == null ? "none" : s.state() + (s.detail() == null || s.detail().isEmpty() ? "" : " (" + s.detail()
                + ")");
    }

    private static String uptime() throws IOException, InterruptedException {
        return DebianBenchNodes.command(List.of("uptime"), 10).trim();
    }

    /** QEMU processes running on this machine now, other than those of guests under {@code ours}. */
    private static int otherQemus(Path ours) {
        return (int) ProcessHandle.allProcesses()
                .filter(p -> p.info().command().map(c -> c.contains("qemu-system")).orElse(false))
                .filter(p -> p.info().arguments().map(args -> String.join(" ", args).contains(ours.toString()))
                        .map(mine -> !mine).orElse(true))
                .count();
    }

    private static double seconds(long nanos) {
        return nanos / 1e9;
    }

    private static void progress(String what) {
        System.err.printf("[bench-debian %tT] %s%n", System.currentTimeMillis(), what);
    }
}
