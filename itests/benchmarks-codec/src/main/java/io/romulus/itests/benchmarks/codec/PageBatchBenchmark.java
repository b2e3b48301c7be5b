package io.romulus.itests.benchmarks.codec;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

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
import org.openjdk.jmh.infra.Blackhole;

import io.romulus.transport.mina.internal.DeltaCache;
import io.romulus.transport.mina.internal.MalformedRecordException;
import io.romulus.transport.mina.internal.PageBatchCodec;

/**
 * Encode + decode of one {@code PAGE_BATCH} of 256 pages of 4 KiB (1 MiB of guest memory) per operation, for four
 * kinds of memory. {@code rawMiB} in the output is the throughput in MiB/s of guest memory; the compression ratio
 * (raw over encoded bytes) of each workload is printed when its trial ends.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Thread)
public class PageBatchBenchmark {

    static final int PAGE = 4096;
    static final int PAGES = 256;

    /** zero: all-zero pages; random: incompressible; text: log-like ASCII; delta: a few bytes changed per page. */
    @Param({"zero", "random", "text", "delta"})
    public String workload;

    private ByteBuffer[] versions;
    private final long[] pfns = new long[PAGES];
    private PageBatchCodec.Encoder encoder;
    private PageBatchCodec.Decoder decoder;
    private int turn;
    private long raw;
    private long encoded;

    /** Reported by JMH as rates: MiB of guest memory per second through encode + decode. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Throughput {
        public double rawMiB;

        @Setup(Level.Iteration)
        public void reset() {
            rawMiB = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws MalformedRecordException {
        Random random = new Random(1);
        for (int i = 0; i < PAGES; i++) {
            pfns[i] = i * 3L;
        }
        byte[] a = new byte[PAGES * PAGE];
        switch (workload) {
            case "zero" -> { }
            case "random", "delta" -> random.nextBytes(a);
            case "text" -> {
                StringBuilder sb = new StringBuilder();
                for (int n = 0; sb.length() < a.length; n++) {
                    sb.append("2025-11-24T23:59:").append(n % 60).append(" INFO [worker-").append(n % 16)
                            .append("] request id=").append(random.nextInt(100000)).append(" status=200 bytes=")
                            .append(random.nextInt(65536)).append('\n');
                }
                System.arraycopy(sb.toString().getBytes(StandardCharsets.US_ASCII), 0, a, 0, a.length);
            }
            default -> throw new IllegalArgumentException(workload);
        }
        byte[] b = a.clone();
        if (workload.equals("delta")) {
            for (int i = 0; i < PAGES; i++) {
                for (int k = 0; k < 4; k++) {
                    b[i * PAGE + random.nextInt(PAGE)] ^= (byte) (1 + random.nextInt(255));
                }
            }
        }
        versions = new ByteBuffer[] {ByteBuffer.wrap(a), ByteBuffer.wrap(b)};
        // only the delta workload sends pages the peer already has; the others measure first sends
        long cache = workload.equals("delta") ? 64L << 20 : 0;
        encoder = new PageBatchCodec.Encoder(PAGE, new DeltaCache(cache, PAGE));
        decoder = new PageBatchCodec.Decoder(PAGE, new DeltaCache(cache, PAGE));
        if (workload.equals("delta")) {
            decoder.decode(encoder.encode(pfns, 0, PAGES, versions[0], new CRC32C()).body(), new CRC32C());
            turn = 1;
        }
    }

    @Benchmark
    public void encodeDecode(Throughput counters, Blackhole bh) throws MalformedRecordException {
        ByteBuffer pages = versions[turn];
        if (workload.equals("delta")) {
            turn ^= 1; // alternate versions so every page differs from the cached one in a few bytes
        }
        CRC32C sent = new CRC32C();
        PageBatchCodec.Encoded batch = encoder.encode(pfns, 0, PAGES, pages, sent);
        CRC32C received = new CRC32C();
        PageBatchCodec.Decoded decoded = decoder.decode(batch.body(), received);
        if (sent.getValue() != received.getValue()) {
            throw new IllegalStateException("checksum mismatch");
        }
        raw += batch.rawBytes();
        encoded += batch.body().length;
        counters.rawMiB += batch.rawBytes() / (1024.0 * 1024.0);
        bh.consume(decoded);
    }

    @TearDown(Level.Trial)
    public void report() {
        // JMH benchmarks report on stdout; this is not product code
        System.out.printf("%n[codec] workload=%s compression ratio (raw/encoded) = %.2f%n", workload,
                encoded == 0 ? 1.0 : (double) raw / encoded);
    }
}
