package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Base64;
import java.util.Comparator;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import org.openjdk.jmh.annotations.AuxCounters;
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

/**
 * The whole checkpoint stream on loopback, primary to backup and ACK back, with each {@link StreamProtection}: one
 * operation is one checkpoint of 1024 pages of 4 KiB (4 MiB of guest memory) sent, decoded by the backup, and
 * acknowledged, with up to {@code inflight} checkpoints unacknowledged ({@code rawMiB}: MiB of guest memory per second
 * through the stream). {@code NONE} is the stream as it was before records were sealed (only reachable from this
 * package, for this comparison); {@code ENCRYPTED} is the default. Both ends run in this one JVM, so their CPU adds up
 * on one machine; {@code cpuMs} is the CPU time of the process (both ends) per second, so {@code cpuMs / rawMiB} is
 * the CPU cost per MiB, which the load of a shared machine changes less than the throughput.
 * {@link StreamProtectionComparison} runs the modes one after the other and prints the ratios.
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
    private static final String PASS = "bench-only";

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

    /**
     * true: the stream runs over TLS 1.3 as well (tls.enabled, certificates made with keytool at setup): with
     * {@code NONE}, TLS instead of the sealed records; with {@code ENCRYPTED}, both.
     */
    @Param({"false"})
    public boolean tls;

    private Path dir;
    private MinaCheckpointTransport backup;
    private MinaCheckpointTransport primary;
    private CheckpointChannel channel;
    private volatile long acked = -1;
    private long epoch;
    private final long[] pfns = new long[PAGES];
    private ByteBuffer pages;

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    /** Reported by JMH as rates per second: MiB of guest memory through the stream, ms of the process's CPU time. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Cost {
        public double rawMiB;
        public double cpuMs;
        private long cpuAt;

        @Setup(Level.Iteration)
        public void reset() {
            rawMiB = 0;
            cpuMs = 0;
            cpuAt = OS.getProcessCpuTime();
        }

        void add(double mib) {
            rawMiB += mib;
            long now = OS.getProcessCpuTime();
            cpuMs += (now - cpuAt) / 1e6;
            cpuAt = now;
        }
    }

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
        if (tls) {
            Path a = keyStore("bench-a");
            base = base.withTls(a, PASS, trustStore(a, keyStore("bench-b")), PASS);
        }
        TransportSettings backupSettings = base.withListen("127.0.0.1", 0).withNodeId("bench-b");
        if (tls) {
            backupSettings = backupSettings.withTls(dir.resolve("bench-b.p12"), PASS, base.truststore(), PASS);
        }
        backup = MinaCheckpointTransport.create(backupSettings, protection);
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

    /** A PKCS12 key store with a self-signed certificate for node id {@code node} (a subjectAltName DNS entry). */
    private Path keyStore(String node) throws IOException, InterruptedException {
        Path file = dir.resolve(node + ".p12");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", node, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + node,
                "-ext", "SAN=dns:" + node, "-validity", "2", "-storetype", "PKCS12", "-keystore", file.toString(),
                "-storepass", PASS, "-keypass", PASS).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException("keytool failed: " + out);
        }
        return file;
    }

    /** A trust store with the certificates of {@code keyStores}. */
    private Path trustStore(Path... keyStores) throws IOException, GeneralSecurityException {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        for (Path file : keyStores) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(file)) {
                ks.load(in, PASS.toCharArray());
            }
            String alias = ks.aliases().nextElement();
            trust.setCertificateEntry(alias, ks.getCertificate(alias));
        }
        Path file = dir.resolve("trust.p12");
        try (OutputStream out = Files.newOutputStream(file)) {
            trust.store(out, PASS.toCharArray());
        }
        return file;
    }

    @Benchmark
    public long checkpoint(Cost t) throws Exception {
        long e = ++epoch;
        channel.sendPages(e, pfns, 0, PAGES, pages);
        channel.endEpoch(e, e == 1);
        while (acked < e - (inflight - 1)) {
            if (!channel.isOpen()) {
                throw new IllegalStateException("the stream closed");
            }
            LockSupport.parkNanos(20_000);
        }
        t.add((double) PAGES * PAGE / (1024 * 1024));
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
