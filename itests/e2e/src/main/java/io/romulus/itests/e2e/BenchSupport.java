package io.romulus.itests.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.engine.internal.Engine;
import io.romulus.engine.internal.EngineSettings;
import io.romulus.nbd.internal.NbdExports;
import io.romulus.nbd.internal.NbdSettings;
import io.romulus.qemu.internal.QemuHypervisor;
import io.romulus.qemu.internal.QemuSettings;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;

/** What the end-to-end benchmarks share: the checkpoint table (pause beside memcpy of the same pages), waits, args. */
final class BenchSupport {

    private static final int PAGE = 4096;
    private static final Random RANDOM = new Random(7);

    private BenchSupport() {
    }

    static void checkpointHeader(String first) {
        System.out.printf("  %9s %8s %10s %11s %8s %9s %9s %8s %8s%n", first, "dirty", "pause µs", "memcpy µs",
                "ratio", "p99 µs", "ACK ms", "compr", "ckpt/s");
    }

    /**
     * One row of the checkpoint table from a run's epochs: medians of dirty pages, pause, memcpy of the same number of
     * scattered pages copied here from {@code src} to {@code dst} right now, their ratio per epoch, the p99 pause, the
     * time to ACK, the compression ratio and the sustained checkpoint rate. Returns the median memcpy.
     */
    static long checkpointRow(String label, List<EpochStats> stats, ByteBuffer src, ByteBuffer dst) {
        double rateHz = (stats.size() - 1) * 1000.0
                / Math.max(1, stats.get(stats.size() - 1).startedMillis() - stats.get(0).startedMillis());
        long[] pause = stats.stream().mapToLong(EpochStats::pauseNanos).sorted().toArray();
        long[] dirty = stats.stream().mapToLong(EpochStats::dirtyPages).sorted().toArray();
        long[] ack = stats.stream().filter(e -> e.ackNanos() >= 0).mapToLong(EpochStats::ackNanos).sorted().toArray();
        long[] ratios = new long[stats.size()];
        long[] memcpy = new long[stats.size()];
        for (int i = 0; i < stats.size(); i++) {
            memcpy[i] = memcpyNanos(src, dst, stats.get(i).dirtyPages());
            ratios[i] = memcpy[i] == 0 ? 0 : stats.get(i).pauseNanos() * 100 / Math.max(1, memcpy[i]);
        }
        Arrays.sort(memcpy);
        Arrays.sort(ratios);
        double compr = stats.stream().mapToLong(EpochStats::rawBytes).sum()
                / (double) Math.max(1, stats.stream().mapToLong(EpochStats::wireBytes).sum());
        System.out.printf("  %9s %8d %10.0f %11.0f %8.1f %9.0f %9.1f %8.1f %8.1f%n", label, median(dirty),
                median(pause) / 1e3, median(memcpy) / 1e3, median(ratios) / 100.0,
                pause[(int) (pause.length * 0.99)] / 1e3, median(ack) / 1e6, compr, rateHz);
        return median(memcpy);
    }

    static long median(long[] sorted) {
        return sorted.length == 0 ? 0 : sorted[sorted.length / 2];
    }

    /** The {@code p} quantile (0 to 1) of {@code sorted} by the nearest-rank method, or 0 when it is empty. */
    static long percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(p * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length, rank) - 1)];
    }

    /** Copies {@code pages} pages at random page offsets from {@code src} to {@code dst}, as the pause does. */
    static long memcpyNanos(ByteBuffer src, ByteBuffer dst, int pages) {
        int count = src.capacity() / PAGE;
        long[] pfns = new long[pages];
        for (int i = 0; i < pages; i++) {
            pfns[i] = RANDOM.nextInt(count);
        }
        Arrays.sort(pfns);
        ByteBuffer staging = dst.duplicate().clear();
        long t = System.nanoTime();
        for (int i = 0; i < pages; i++) {
            ByteBuffer page = src.duplicate();
            int off = (int) pfns[i] * PAGE;
            page.limit(off + PAGE).position(off);
            if (staging.remaining() < PAGE) {
                staging.clear();
            }
            staging.put(page);
        }
        return System.nanoTime() - t;
    }

    static ProtectionStatus row(Engine e, DomainId id, Role role) {
        return e.status().stream().filter(s -> s.role() == role && s.domain().equals(id.toString())).findFirst()
                .orElse(null);
    }

    /** The state of a domain's row, or {@code null} while there is none. */
    static ProtectionState state(Engine e, DomainId id, Role role) {
        ProtectionStatus s = row(e, id, role);
        return s == null ? null : s.state();
    }

    static long committed(Engine e, DomainId id) {
        ProtectionStatus s = row(e, id, Role.BACKUP);
        return s == null ? -1 : s.epoch();
    }

    /** The engine's own CPU time for {@code id} on the backup node {@code e}, over its last 5 s of checkpoints. */
    static EngineCpu backupCpu(Engine e, DomainId id) {
        ProtectionStatus s = row(e, id, Role.BACKUP);
        return s == null ? EngineCpu.UNKNOWN : s.engineCpu();
    }

    static void await(BooleanSupplier condition, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("benchmark condition not reached in " + seconds + " s");
            }
            Thread.sleep(1);
        }
    }

    /** {@code --name value} pairs, refusing names not in {@code known}. */
    static Map<String, String> parse(String[] args, List<String> known) {
        Map<String, String> map = new HashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            String k = args[i].substring(2);
            if (!known.contains(k)) {
                throw new IllegalArgumentException("unknown option --" + k + " (" + String.join(", ", known) + ")");
            }
            map.put(k, args[i + 1]);
        }
        return map;
    }

    /**
     * One node's QEMU binding for the demo guest ({@code guest}: its kernel and initramfs) under TCG, its guests'
     * files under {@code runDir}; refuses a host where it cannot run. {@code cleanup} stops its guests after whatever
     * is added to it later (the engines).
     */
    static QemuHypervisor demoGuests(Path runDir, Path guest, Path preload, Cleanup cleanup) {
        QemuHypervisor q = new QemuHypervisor(new QemuSettings("qemu-system-x86_64", "tcg", runDir,
                guest.resolve("vmlinuz"), guest.resolve("initramfs.cpio.gz"), preload, "uffd", "", "", 10_000));
        if (!q.availability().available()) {
            throw new IllegalStateException(q.availability().reason());
        }
        cleanup.add("stop the guests under " + runDir, q::destroyAll);
        return q;
    }

    /**
     * One node's NBD server for its guests' disks, its socket in {@code socketDir} and its copies of replicated disks
     * in {@code imageDir}; {@code cleanup} closes it after whatever is added to it later (the guests, the engines).
     */
    static NbdExports nbdServer(String node, Path socketDir, Path imageDir, int initialChunkKib, Cleanup cleanup)
            throws IOException {
        NbdExports exports = new NbdExports(new NbdSettings(socketDir, imageDir, initialChunkKib));
        cleanup.add("close the " + node + "'s NBD server", exports::close);
        return exports;
    }

    /** A primary and a backup engine, and where the backup's stream listens. */
    record Nodes(Engine primary, Engine backup, InetSocketAddress backupAddress) {
    }

    /**
     * A primary engine ({@code bench-a}) and a backup engine ({@code bench-b}) in this JVM, joined by the MINA stream
     * on loopback with a pre-shared secret in {@code dir}; the caller adds their helpers. {@code cleanup} stops them
     * before whatever was added to it earlier (the guests, their disks): the primary first, so that no protection sees
     * its backup go, then the backup, then the streams.
     */
    static Nodes nodes(Path dir, EngineSettings primarySettings, EngineSettings backupSettings, Cleanup cleanup)
            throws IOException {
        TransportSettings base = TransportSettings.defaults().withSecretFile(dir.resolve("stream.secret"));
        MinaCheckpointTransport backupStream = MinaCheckpointTransport.create(
                base.withListen("127.0.0.1", 0).withNodeId("bench-b"));
        cleanup.add("close the backup's stream", backupStream::close);
        MinaCheckpointTransport primaryStream = MinaCheckpointTransport.create(
                base.withListen("127.0.0.1", 0).withNodeId("bench-a"));
        cleanup.add("close the primary's stream", primaryStream::close);
        Engine backup = new Engine(backupSettings);
        cleanup.add("stop the backup engine", backup::shutdown);
        backup.setTransport(backupStream);
        Engine primary = new Engine(primarySettings);
        cleanup.add("stop the primary engine", primary::shutdown);
        primary.setTransport(primaryStream);
        return new Nodes(primary, backup, InetSocketAddress.createUnresolved("127.0.0.1",
                backupStream.listenAddress().getPort()));
    }

    /**
     * Ends the protection of {@code id} at the end of a phase: unprotect returns once the primary's loop has ended
     * (GOODBYE sent), and the backup then drops its replica. The caller stops the guest afterwards, never before: a
     * guest that vanishes under its protection is a failure the engine must alarm.
     */
    static void unprotect(Engine primary, Engine backup, DomainId id) throws Exception {
        primary.unprotect(id);
        await(() -> row(primary, id, Role.PRIMARY) == null && row(backup, id, Role.BACKUP) == null, 30);
    }
}
