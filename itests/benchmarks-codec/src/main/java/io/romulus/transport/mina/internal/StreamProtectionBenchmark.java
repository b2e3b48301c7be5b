package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Comparator;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;
import io.romulus.api.transport.ReplicaSink;
import io.romulus.itests.benchmarks.codec.PageBatchBenchmark.Throughput;

/**
 * The whole checkpoint stream on loopback, primary to backup and ACK back, with each {@link StreamProtection}: one
 * operation is one checkpoint of 1024 pages of 4 KiB (4 MiB of guest memory) sent, decoded by the backup, and
 * acknowledged, with up to {@code inflight} checkpoints unacknowledged ({@code rawMiB}: MiB of guest memory per second
 * through the stream). {@code NONE} is the stream as it was before records were sealed (only reachable from this
 * package, for this comparison); {@code ENCRYPTED} is the default. Both ends run in this one JVM, so their CPU adds up
 * on one machine; each iteration also prints the CPU time of the process per MiB.
 *
 * <p>In this package (a split package on the benchmark's class path) to reach the package-private factory that
 * proposes {@code NONE}. Run: {@code java -jar target/benchmarks.jar StreamProtectionBenchmark}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Thread)
public class StreamProtectionBenchmark {

    static final int PAGE = 4096;
    static final int PAGES = 1024;

    @Param({"NONE", "INTEGRITY", "ENCRYPTED"})
    public StreamProtection protection;

    /**
     * Checkpoints sent and not yet acknowledged before the next one waits: 4 is the engine's default
     * ({@code max.inflight.epochs}), 1 serializes primary and backup completely.
     */
    @Param({"4", "1"})
    public int inflight;

    /** random: incompressible pages (every byte crosses the wire); text: log-like ASCII (LZ4 shrinks it). */
    @Param({"random", "text"})
    public String workload;

    private Path dir;
    private MinaCheckpointTransport backup;
    private MinaCheckpointTransport primary;
    private CheckpointChannel channel;
    private volatile long acked = -1;
    private long epoch;
    private final long[] pfns = new long[PAGES];
    private ByteBuffer pages;
    private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    private long cpuAtStart;
    private long epochAtStart;

    /** A backup that decodes everything and keeps nothing. */
    private static final class Discard implements ReplicaAcceptor, ReplicaSink {
        @Override
        public Accepted accept(Hello hello) {
            return new Accepted(this, new HelloReply("bench-b", -1));
        }

        @Override
        public void pages(long e, long[] p, int count, ByteBuffer data) {
            // decoded, dropped
        }

        @Override
        public void deviceState(long e, byte[] state) {
            // dropped
        }

        @Override
        public void epochEnd(EpochEnd end) {
            // nothing to apply
        }

        @Override
        public void closed(Throwable cause) {
            // the trial ends
        }
    }

    @Setup(Level.Trial)
    public void connect() throws Exception {
        dir = Files.createTempDirectory("stream-bench");
        Path secret = dir.resolve("stream.secret");
        byte[] key = new byte[32];
        new Random(1).nextBytes(key);
        Files.writeString(secret, Base64.getEncoder().encodeToString(key));
        TransportSettings base = TransportSettings.defaults().withSecretFile(secret).withDeltaCacheBytes(0);
        backup = MinaCheckpointTransport.create(base.withListen("127.0.0.1", 0).withNodeId("bench-b"), protection);
        backup.setAcceptor(new Discard());
        primary = MinaCheckpointTransport.create(base.withListen(null, 0).withNodeId("bench-a"), protection);
        channel = primary.connect(backup.listenAddress(), new Hello("bench-a", "sim:bench", "sim",
                (long) PAGES * PAGE, PAGE, Map.of()), new AckListener() {
                    @Override
                    public void acknowledged(long e) {
                        acked = e;
                    }

                    @Override
                    public void closed(Throwable cause) {
                        // the trial ends
                    }
                });
        pages = ByteBuffer.allocateDirect(PAGES * PAGE);
        Random random = new Random(2);
        byte[] page = new byte[PAGE];
        for (int i = 0; i < PAGES; i++) {
            pfns[i] = i;
            if (workload.equals("random")) {
                random.nextBytes(page);
            } else {
                StringBuilder sb = new StringBuilder();
                while (sb.length() < PAGE) {
                    sb.append("2026-12-06T16:00:00 user=").append(random.nextInt(97)).append(" session=")
                            .append(random.nextInt(100_000)).append(" GET /api/items ok\n");
                }
                System.arraycopy(sb.toString().getBytes(StandardCharsets.US_ASCII), 0, page, 0, PAGE);
            }
            pages.put(page);
        }
        pages.flip();
    }

    /** CPU time of the whole process (both ends of the stream) per MiB: what the machine's load does not change. */
    @Setup(Level.Iteration)
    public void cpuBefore() {
        cpuAtStart = os.getProcessCpuTime();
        epochAtStart = epoch;
    }

    @TearDown(Level.Iteration)
    public void cpuAfter() {
        double mib = (double) (epoch - epochAtStart) * PAGES * PAGE / (1024 * 1024);
        // JMH benchmarks report on stdout; this is not product code
        System.out.printf("%n[stream] protection=%s workload=%s CPU %.2f ms per MiB (both ends)%n", protection,
                workload, (os.getProcessCpuTime() - cpuAtStart) / 1e6 / mib);
    }

    @Benchmark
    public long checkpoint(Throughput t) throws Exception {
        long e = ++epoch;
        channel.sendPages(e, pfns, 0, PAGES, pages);
        channel.endEpoch(e, e == 1);
        while (acked < e - (inflight - 1)) {
            if (!channel.isOpen()) {
                throw new IllegalStateException("the stream closed");
            }
            LockSupport.parkNanos(20_000);
        }
        t.rawMiB += (double) PAGES * PAGE / (1024 * 1024);
        return e;
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        channel.close();
        primary.close();
        backup.close();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
