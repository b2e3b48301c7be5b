package io.romulus.itests.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Debian's {@code pgbench} on the client host against the guest's PostgreSQL (database and role {@code bench}): one
 * {@code -i}, then TPC-B-like runs, each with a per-transaction log ({@code -l}) from which the latencies' mean and p99
 * and the run's time window are taken. The logs are written to a directory of the benchmark (the client host is a
 * network namespace; it shares this machine's files).
 */
final class Pgbench {

    private static final Pattern TPS = Pattern.compile("tps = ([0-9.]+) \\(without initial connection time\\)");
    private static final Pattern PROCESSED = Pattern.compile("number of transactions actually processed: (\\d+)");
    private static final Pattern FAILED = Pattern.compile("number of failed transactions: (\\d+)");

    /**
     * One run.
     *
     * @param tps            pgbench's own figure (without initial connection time)
     * @param processed      transactions pgbench counted as processed
     * @param failed         failed transactions (pgbench 15 reports them; 0 when it does not)
     * @param latencyMicros  every successful transaction's latency from the log, sorted
     * @param firstMillis    wall-clock start of the first logged transaction
     * @param lastMillis     wall-clock end of the last logged transaction
     */
    record Run(double tps, long processed, long failed, long[] latencyMicros, long firstMillis, long lastMillis) {

        double meanMillis() {
            return Arrays.stream(latencyMicros).average().orElse(0) / 1000.0;
        }

        double p99Millis() {
            return latencyMicros.length == 0 ? Double.NaN : BenchSupport.percentile(latencyMicros, 0.99) / 1000.0;
        }
    }

    private final DebianBenchNodes nodes;
    private final Path dir;
    private final int clients;

    Pgbench(DebianBenchNodes nodes, Path dir, int clients) {
        this.nodes = nodes;
        this.dir = dir;
        this.clients = clients;
    }

    /** {@code pgbench -i -s scale}: creates and fills the tables. */
    void init(int scale) throws IOException, InterruptedException {
        client("init", List.of("pgbench", "-i", "-s", Integer.toString(scale), "-h", DebianGuest.IP, "-U", "bench",
                "bench"), 900);
    }

    /** A TPC-B-like run of {@code seconds}, its transactions logged under {@code label} (a file name). */
    Run run(String label, int seconds) throws IOException, InterruptedException {
        Path prefix = dir.resolve(label);
        long startMillis = System.currentTimeMillis();
        String out = client(label, List.of("pgbench", "-h", DebianGuest.IP, "-U", "bench",
                "-c", Integer.toString(clients), "-j", Integer.toString(Math.min(2, clients)),
                "-T", Integer.toString(seconds), "-l", "--log-prefix=" + prefix, "bench"), seconds + 300);
        long endMillis = System.currentTimeMillis();
        Matcher tps = TPS.matcher(out);
        Matcher processed = PROCESSED.matcher(out);
        boolean counted = processed.find();
        boolean none = counted && processed.group(1).equals("0");
        if (!none && (!counted || !tps.find())) {
            throw new IllegalStateException("pgbench (" + label + ") printed no result: " + out);
        }
        Matcher failed = FAILED.matcher(out);
        long failures = failed.find() ? Long.parseLong(failed.group(1)) : 0;

        List<Long> latencies = new ArrayList<>();
        long first = Long.MAX_VALUE;
        long last = Long.MIN_VALUE;
        try (Stream<Path> logs = Files.list(dir)) {
            for (Path log : logs.filter(p -> isLog(p, label)).toList()) {
                for (String line : Files.readAllLines(log, StandardCharsets.US_ASCII)) {
                    // client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]
                    String[] f = line.trim().split("\\s+");
                    if (f.length < 6 || !f[2].chars().allMatch(Character::isDigit)) {
                        continue; // "failed" or "skipped"
                    }
                    long micros = Long.parseLong(f[2]);
                    long endMicros = Long.parseLong(f[4]) * 1_000_000 + Long.parseLong(f[5]);
                    latencies.add(micros);
                    first = Math.min(first, (endMicros - micros) / 1000);
                    last = Math.max(last, endMicros / 1000);
                }
            }
        }
        if (none && latencies.isEmpty()) {
            // a guest too slow to finish one transaction in the run: pgbench prints no tps line; the run's window is
            // then the client's own
            return new Run(0, 0, failures, new long[0], startMillis, endMillis);
        }
        if (latencies.isEmpty()) {
            throw new IllegalStateException("pgbench (" + label + ") logged no transaction under " + prefix + ": "
                    + out);
        }
        long[] sorted = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
        return new Run(Double.parseDouble(tps.group(1)), Long.parseLong(processed.group(1)), failures, sorted, first,
                last);
    }

    /** pgbench -l writes {@code PREFIX.PID} for its first thread and {@code PREFIX.PID.N} for the others. */
    private static boolean isLog(Path p, String label) {
        String name = p.getFileName().toString();
        return name.startsWith(label + ".") && !name.endsWith(".out");
    }

    /**
     * Runs {@code command} on the client host to its end, its output in {@code label.out}; it must end well within
     * {@code timeoutS}. Returns what it printed.
     */
    private String client(String label, List<String> command, int timeoutS) throws IOException, InterruptedException {
        Path output = dir.resolve(label + ".out");
        Process p = nodes.inClient(command, output);
        try {
            if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                throw new IllegalStateException(String.join(" ", command) + ": still running after " + timeoutS
                        + " s");
            }
        } finally {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        String out = Files.readString(output, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + p.exitValue() + "): " + out);
        }
        return out;
    }
}
