package io.romulus.itests.e2e;

import static io.romulus.itests.e2e.BenchSupport.await;
import static io.romulus.itests.e2e.BenchSupport.committed;
import static io.romulus.itests.e2e.BenchSupport.state;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
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

    private EpochBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = BenchSupport.parse(args, List.of("memory", "interval", "epochs", "rates"));
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
            await(() -> state(backup, first, Role.BACKUP) == ProtectionState.PROTECTED, 600);
            long copyNanos = System.nanoTime() - t0;
            long wire = primaryStream.stats().bytesSent() - bytesBefore;
            BenchSupport.unprotect(primary, backup, first);
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
            BenchSupport.checkpointHeader("rate p/s");
            for (int rate : rates) {
                DomainId id = DomainId.parse("sim:bench-" + rate);
                primary.protect(new ProtectRequest(id, peer, interval, Map.of("memory", memory, "dirty-rate",
                        Integer.toString(rate), "packet-rate", "200")));
                await(() -> committed(backup, id) >= epochs + 20, 600);
                List<EpochStats> stats = primary.epochs(id, epochs);
                BenchSupport.unprotect(primary, backup, id);
                BenchSupport.checkpointRow(Integer.toString(rate), stats, src, dst);
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
}
