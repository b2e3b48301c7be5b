package io.romulus.itests.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.engine.internal.Engine;
import io.romulus.engine.internal.EngineSettings;
import io.romulus.sim.internal.SimHypervisor;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;

/**
 * The end-to-end epoch benchmark: a primary and a backup engine in one JVM, joined by the MINA stream on loopback,
 * protecting a synthetic domain. It prints, side by side from one run:
 * <ul>
 * <li>pause time per epoch beside the memcpy time of the same number of pages on this machine;</li>
 * <li>page-stream throughput of the initial copy beside a plain socket on loopback;</li>
 * <li>the compression ratio of checkpoints and of the initial copy, and the sustained checkpoint rate.</li>
 * </ul>
 * Run it with {@code scripts/bench-epochs [--memory 256M] [--interval 25] [--epochs 300] [--rates 1000,5000,20000]}.
 */
public final class EpochBenchmark {

    private static final int PAGE = 4096;

    private EpochBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = parse(args);
        String memory = a.getOrDefault("memory", "256M");
        int interval = Integer.parseInt(a.getOrDefault("interval", "25"));
        int epochs = Integer.parseInt(a.getOrDefault("epochs", "300"));
        int[] rates = Arrays.stream(a.getOrDefault("rates", "1000,5000,20000,50000").split(","))
                .mapToInt(Integer::parseInt).toArray();

        Path dir = Files.createTempDirectory("romulus-bench");
        TransportSettings base = TransportSettings.defaults().withSecretFile(dir.resolve("stream.secret"));
        try (MinaCheckpointTransport backupStream = MinaCheckpointTransport.create(
                base.withListen("127.0.0.1", 0).withNodeId("bench-b"));
                MinaCheckpointTransport primaryStream = MinaCheckpointTransport.create(
                        base.withListen("127.0.0.1", 0).withNodeId("bench-a"))) {
            SimHypervisor primarySim = new SimHypervisor();
            SimHypervisor backupSim = new SimHypervisor();
            Engine primary = new Engine(EngineSettings.defaults("bench-a").withInterval(interval));
            primary.addHypervisor(primarySim);
            primary.addOutputBufferProvider(primarySim, 0);
            primary.setTransport(primaryStream);
            Engine backup = new Engine(EngineSettings.defaults("bench-b"));
            backup.addHypervisor(backupSim);
            backup.setTransport(backupStream);
            InetSocketAddress peer = InetSocketAddress.createUnresolved("127.0.0.1",
                    backupStream.listenAddress().getPort());
            long memoryBytes = io.romulus.sim.internal.SimOptions.parseSize(memory);

            System.out.printf("Romulus end-to-end epoch benchmark: synthetic domain of %s, %d ms epochs, %d epochs"
                    + " per dirty rate, MINA stream on loopback with the pre-shared secret%n%n", memory, interval,
                    epochs);

            // 1. the initial copy beside a plain socket
            DomainId first = DomainId.parse("sim:bench-copy");
            long bytesBefore = primaryStream.stats().bytesSent();
            long t0 = System.nanoTime();
            primary.protect(new ProtectRequest(first, peer, interval, Map.of("memory", memory, "dirty-rate", "0",
                    "packet-rate", "0")));
            await(() -> state(backup, first) == ProtectionState.PROTECTED, 600);
            long copyNanos = System.nanoTime() - t0;
            long wire = primaryStream.stats().bytesSent() - bytesBefore;
            primary.unprotect(first);
            double socket = rawSocketMBps(memoryBytes);
            double pageRate = memoryBytes / 1e6 / (copyNanos / 1e9);
            System.out.println("Page stream (initial copy, to the first committed checkpoint)");
            System.out.printf("  %-34s %10.1f MB/s of guest pages  (%.1f MB/s on the wire, ratio %.1f)%n",
                    "Romulus stream:", pageRate, wire / 1e6 / (copyNanos / 1e9), (double) memoryBytes / wire);
            System.out.printf("  %-34s %10.1f MB/s%n", "plain TCP socket, same bytes:", socket);
            System.out.printf("  %-34s %10.2f%n%n", "stream / socket:", pageRate / socket);

            // 2. pause against memcpy of the same dirty set, per dirty rate
            ByteBuffer src = ByteBuffer.allocateDirect((int) Math.min(memoryBytes, 1L << 30));
            ByteBuffer dst = ByteBuffer.allocateDirect(src.capacity());
            System.out.println("Checkpoints (median over the last epochs; memcpy = the same number of scattered pages"
                    + " copied on this machine)");
            System.out.printf("  %9s %8s %10s %11s %8s %9s %9s %8s %8s%n", "rate p/s", "dirty", "pause µs",
                    "memcpy µs", "ratio", "p99 µs", "ACK ms", "compr", "ckpt/s");
            for (int rate : rates) {
                DomainId id = DomainId.parse("sim:bench-" + rate);
                primary.protect(new ProtectRequest(id, peer, interval, Map.of("memory", memory, "dirty-rate",
                        Integer.toString(rate), "packet-rate", "200")));
                await(() -> committed(backup, id) >= epochs + 20, 600);
                List<EpochStats> stats = primary.epochs(id, epochs);
                double rateHz = (stats.size() - 1) * 1000.0
                        / Math.max(1, stats.get(stats.size() - 1).startedMillis() - stats.get(0).startedMillis());
                primary.unprotect(id);
                long[] pause = stats.stream().mapToLong(EpochStats::pauseNanos).sorted().toArray();
                long[] dirty = stats.stream().mapToLong(EpochStats::dirtyPages).sorted().toArray();
                long[] ack = stats.stream().filter(e -> e.ackNanos() >= 0).mapToLong(EpochStats::ackNanos).sorted()
                        .toArray();
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
                System.out.printf("  %9d %8d %10.0f %11.0f %8.1f %9.0f %9.1f %8.1f %8.1f%n", rate, median(dirty),
                        median(pause) / 1e3, median(memcpy) / 1e3, median(ratios) / 100.0,
                        pause[(int) (pause.length * 0.99)] / 1e3, median(ack) / 1e6, compr,
                        rateHz);
            }
            System.out.println();
            System.out.println("ratio = pause / memcpy of the same pages, per epoch, median; the pause also covers"
                    + " the dirty-log harvest, the device state and the pause/resume handshake.");
            primary.shutdown();
            backup.shutdown();
            primarySim.deactivate();
            backupSim.deactivate();
        }
    }

    private static long median(long[] sorted) {
        return sorted.length == 0 ? 0 : sorted[sorted.length / 2];
    }

    private static final Random RANDOM = new Random(7);

    /** Copies {@code pages} pages at random page offsets from {@code src} to {@code dst}, as the pause does. */
    private static long memcpyNanos(ByteBuffer src, ByteBuffer dst, int pages) {
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

    /** Streams {@code bytes} through a plain loopback socket in 1 MiB writes. */
    private static double rawSocketMBps(long bytes) throws IOException, InterruptedException {
        try (ServerSocket server = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Thread reader = new Thread(() -> {
                try (Socket s = server.accept(); InputStream in = s.getInputStream()) {
                    byte[] buf = new byte[1 << 20];
                    while (in.read(buf) >= 0) {
                        // discard
                    }
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            reader.start();
            byte[] chunk = new byte[1 << 20];
            new Random(1).nextBytes(chunk);
            long t = System.nanoTime();
            try (Socket s = new Socket(server.getInetAddress(), server.getLocalPort());
                    OutputStream out = s.getOutputStream()) {
                for (long sent = 0; sent < bytes; sent += chunk.length) {
                    out.write(chunk, 0, (int) Math.min(chunk.length, bytes - sent));
                }
            }
            reader.join();
            return bytes / 1e6 / ((System.nanoTime() - t) / 1e9);
        }
    }

    private static ProtectionState state(Engine e, DomainId id) {
        return e.status().stream().filter(s -> s.role() == Role.BACKUP && s.domain().equals(id.toString()))
                .map(ProtectionStatus::state).findFirst().orElse(null);
    }

    private static long committed(Engine e, DomainId id) {
        return e.status().stream().filter(s -> s.role() == Role.BACKUP && s.domain().equals(id.toString()))
                .mapToLong(ProtectionStatus::epoch).findFirst().orElse(-1);
    }

    private static void await(BooleanSupplier condition, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("benchmark condition not reached in " + seconds + " s");
            }
            Thread.sleep(1);
        }
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> map = new java.util.HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            map.put(args[i].substring(2), args[i + 1]);
        }
        new ArrayList<>(map.keySet()).forEach(k -> {
            if (!List.of("memory", "interval", "epochs", "rates").contains(k)) {
                throw new IllegalArgumentException("unknown option --" + k + " (memory, interval, epochs, rates)");
            }
        });
        return map;
    }
}
