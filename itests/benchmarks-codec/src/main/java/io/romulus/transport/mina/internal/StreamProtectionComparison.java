package io.romulus.transport.mina.internal;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs {@link StreamProtectionBenchmark} for the unprotected stream, the sealed one (INTEGRITY, and ENCRYPTED, the
 * default), TLS 1.3 alone and TLS 1.3 under ENCRYPTED, all in one run with the same settings, and prints each one's
 * throughput and CPU time per MiB against the unprotected stream's, and whether the default meets the target of issue
 * 20: at least 80% of the unprotected throughput. The modes take turns, round after round, each round a fresh JVM per
 * mode, and the figures are the medians over the rounds (and the ratios the medians of each round's ratio), so that
 * a change of the machine's load during the run weighs on every mode alike. Run:
 * {@code java -cp itests/benchmarks-codec/target/benchmarks.jar
 * io.romulus.transport.mina.internal.StreamProtectionComparison [rounds] [seconds per iteration] [inflight]
 * [workload]}.
 */
public final class StreamProtectionComparison {

    /** The share of the unprotected throughput that the default protection must keep. */
    static final double TARGET = 0.80;
    private static final int WARM_UPS = 4;
    private static final int MEASUREMENTS = 4;

    private StreamProtectionComparison() {
    }

    /** One configuration of the stream: its protection of records and whether TLS 1.3 runs under them. */
    private record Mode(StreamProtection protection, boolean tls) {
        String label() {
            return tls ? (protection == StreamProtection.NONE ? "TLS 1.3 only" : protection + " + TLS 1.3")
                    : protection.name();
        }
    }

    public static void main(String[] args) throws RunnerException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        String inflight = args.length > 2 ? args[2] : "4";
        String workload = args.length > 3 ? args[3] : "random";
        List<Mode> modes = List.of(new Mode(StreamProtection.NONE, false), new Mode(StreamProtection.INTEGRITY, false),
                new Mode(StreamProtection.ENCRYPTED, false), new Mode(StreamProtection.NONE, true),
                new Mode(StreamProtection.ENCRYPTED, true));
        // [mode][round]: MiB/s and CPU ms per MiB
        double[][] mib = new double[modes.size()][rounds];
        double[][] cpu = new double[modes.size()][rounds];
        for (int round = 0; round < rounds; round++) {
            for (int m = 0; m < modes.size(); m++) {
                Options o = new OptionsBuilder().include(StreamProtectionBenchmark.class.getName() + ".checkpoint")
                        .param("protection", modes.get(m).protection().name())
                        .param("tls", String.valueOf(modes.get(m).tls())).param("inflight", inflight)
                        .param("workload", workload).forks(1).warmupIterations(WARM_UPS)
                        .warmupTime(TimeValue.seconds(seconds)).measurementIterations(MEASUREMENTS)
                        .measurementTime(TimeValue.seconds(seconds)).timeUnit(TimeUnit.SECONDS).build();
                RunResult r = new Runner(o).run().iterator().next();
                mib[m][round] = r.getSecondaryResults().get("rawMiB").getScore();
                cpu[m][round] = r.getSecondaryResults().get("cpuMs").getScore() / mib[m][round];
            }
        }
        // JMH benchmarks report on stdout; this is not product code
        System.out.printf(Locale.ROOT, "%nStream on loopback, checkpoints of %d pages of %d bytes, %s pages, %s in "
                + "flight; %d rounds, each mode %d x %d s measured after %d x %d s of warm-up per round:%n",
                StreamProtectionBenchmark.PAGES, StreamProtectionBenchmark.PAGE, workload, inflight, rounds,
                MEASUREMENTS, seconds, WARM_UPS, seconds);
        System.out.printf(Locale.ROOT, "  %-20s %12s %10s %12s %12s   %s%n", "mode", "MiB/s", "of NONE", "CPU ms/MiB",
                "NONE's CPU", "MiB/s per round");
        double[] ratios = null;
        for (int m = 0; m < modes.size(); m++) {
            double[] ofNone = new double[rounds];
            double[] cpuOfNone = new double[rounds];
            for (int round = 0; round < rounds; round++) {
                ofNone[round] = mib[m][round] / mib[0][round];
                cpuOfNone[round] = cpu[0][round] / cpu[m][round];
            }
            if (modes.get(m).equals(new Mode(StreamProtection.ENCRYPTED, false))) {
                ratios = new double[] {median(ofNone), median(cpuOfNone)};
            }
            StringBuilder each = new StringBuilder();
            for (double v : mib[m]) {
                each.append(String.format(Locale.ROOT, " %.0f", v));
            }
            System.out.printf(Locale.ROOT, "  %-20s %12.1f %10.2f %12.2f %12.2f  %s%n", modes.get(m).label(),
                    median(mib[m]), median(ofNone), median(cpu[m]), median(cpuOfNone), each);
        }
        System.out.printf(Locale.ROOT, "Target: the default (ENCRYPTED) keeps at least %.0f%% of the unprotected "
                + "throughput: %.0f%%, %s (CPU per MiB of the unprotected stream against the default's: %.0f%%)%n",
                TARGET * 100, ratios[0] * 100, ratios[0] >= TARGET ? "MET" : "NOT MET", ratios[1] * 100);
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }
}
