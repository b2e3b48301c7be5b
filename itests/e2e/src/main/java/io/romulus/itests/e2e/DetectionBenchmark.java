package io.romulus.itests.e2e;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.detector.FailureDetector;
import io.romulus.detector.internal.DetectorSettings;
import io.romulus.detector.internal.UdpFailureDetector;

/**
 * How long the failure detector takes to convict a peer that stops, at the default settings (etc/io.romulus.detector
 * .cfg): pairs of detectors on loopback exchange heartbeats for a warm-up, then one side of each pair stops at a
 * random moment and the other's time to suspicion is measured. Two configurations side by side: heartbeats only, and
 * heartbeats plus checkpoint ACKs counted as liveness every 25 ms (a backup at 40 Hz). Also counts suspicions during
 * the warm-up (false positives).
 *
 * <p>Usage: {@code scripts/bench-detector [--pairs 30] [--warmup 25]}.
 */
public final class DetectionBenchmark {

    private DetectionBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int pairs = 30;
        int warmupSeconds = 25;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--pairs" -> pairs = Integer.parseInt(args[i + 1]);
                case "--warmup" -> warmupSeconds = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        System.out.printf("Failure detection at the defaults (%s), %d pairs on loopback, %d s of heartbeats first%n",
                DetectorSettings.defaults("x"), pairs, warmupSeconds);
        System.out.printf("  %-28s %6s %8s %8s %8s %8s %8s %12s%n", "liveness", "trials", "min ms", "p10 ms",
                "median", "p90 ms", "max ms", "false susp.");
        run("heartbeats", pairs, warmupSeconds, false);
        run("heartbeats + ACKs at 40 Hz", pairs, warmupSeconds, true);
    }

    private static void run(String label, int pairs, int warmupSeconds, boolean acks) throws Exception {
        List<UdpFailureDetector> all = new ArrayList<>();
        ScheduledExecutorService timers = Executors.newScheduledThreadPool(2);
        long[] detection = new long[pairs];
        AtomicLong falseSuspicions = new AtomicLong();
        CountDownLatch done = new CountDownLatch(pairs);
        long[] stoppedAt = new long[pairs];
        try {
            List<ScheduledFuture<?>> ackers = new ArrayList<>();
            List<UdpFailureDetector> stopping = new ArrayList<>();
            for (int i = 0; i < pairs; i++) {
                int trial = i;
                UdpFailureDetector watcher = start("w" + i, all);
                UdpFailureDetector watched = start("p" + i, all);
                FailureDetector.Monitor m = watcher.monitor("p" + i, watched.localAddress(),
                        new FailureDetector.Listener() {
                            @Override
                            public void suspected(String peerId, double phi) {
                                if (stoppedAt[trial] == 0) {
                                    falseSuspicions.incrementAndGet();
                                } else if (detection[trial] == 0) {
                                    detection[trial] = System.nanoTime() - stoppedAt[trial];
                                    done.countDown();
                                }
                            }

                            @Override
                            public void recovered(String peerId) {
                            }
                        });
                watched.monitor("w" + i, watcher.localAddress(), new FailureDetector.Listener() {
                    @Override
                    public void suspected(String peerId, double phi) {
                    }

                    @Override
                    public void recovered(String peerId) {
                    }
                });
                if (acks) {
                    ackers.add(timers.scheduleAtFixedRate(() -> {
                        if (stoppedAt[trial] == 0) {
                            m.alive();
                        }
                    }, 25, 25, TimeUnit.MILLISECONDS));
                }
                stopping.add(watched);
            }
            Thread.sleep(TimeUnit.SECONDS.toMillis(warmupSeconds));
            Random random = new Random(11);
            for (int i = 0; i < pairs; i++) {
                Thread.sleep(random.nextInt(100)); // a random phase against the heartbeat schedule
                stoppedAt[i] = System.nanoTime();
                stopping.get(i).close();
            }
            if (!done.await(60, TimeUnit.SECONDS)) {
                System.out.println("  some peers were never suspected within 60 s");
            }
            ackers.forEach(f -> f.cancel(false));
        } finally {
            timers.shutdownNow();
            all.forEach(UdpFailureDetector::close);
        }
        long[] sorted = Arrays.stream(detection).filter(d -> d > 0).sorted().toArray();
        System.out.printf("  %-28s %6d %8.0f %8.0f %8.0f %8.0f %8.0f %12d%n", label, sorted.length, ms(sorted, 0),
                ms(sorted, 0.1), ms(sorted, 0.5), ms(sorted, 0.9), ms(sorted, 1.0), falseSuspicions.get());
    }

    private static UdpFailureDetector start(String node, List<UdpFailureDetector> all) throws IOException {
        UdpFailureDetector d = new UdpFailureDetector(DetectorSettings.defaults(node).withListen("127.0.0.1", 0));
        all.add(d);
        return d;
    }

    private static double ms(long[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[Math.min(sorted.length - 1, (int) (q * sorted.length))] / 1e6;
    }
}
