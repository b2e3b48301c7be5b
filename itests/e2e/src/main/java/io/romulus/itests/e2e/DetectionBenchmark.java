package io.romulus.itests.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
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
import io.romulus.detector.internal.UdpHeartbeats;
import io.romulus.support.linux.ThreadPriority;
import io.romulus.detector.internal.UdpFailureDetector;

/**
 * How long the failure detector takes to convict a peer that stops, at the default settings (etc/io.romulus.detector
 * .cfg) or those given: pairs of detectors on loopback exchange heartbeats for a warm-up, then one side of each pair stops at a
 * random moment and the other's time to suspicion is measured. Two configurations side by side: heartbeats only, and
 * heartbeats plus checkpoint ACKs counted as liveness every 25 ms (a backup at 40 Hz). Also counts suspicions during
 * the warm-up (false positives). The host is kept busy meanwhile (CPU burners on every core, a thread allocating
 * garbage), and the heartbeat inter-arrival times one detector's peer sees are reported first: the distribution the
 * threshold, minimum standard deviation and acceptable pause are chosen from.
 *
 * <p>Usage: {@code scripts/bench-detector [--pairs 30] [--warmup 25] [--busy 2] [--interval MS] [--threshold PHI]
 * [--min-std-dev MS] [--acceptable-pause MS]}.
 */
public final class DetectionBenchmark {

    private DetectionBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int pairs = 30;
        int warmupSeconds = 25;
        int busy = 2;
        DetectorSettings settings = DetectorSettings.defaults("x");
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            DetectorSettings d = settings;
            switch (args[i]) {
                case "--pairs" -> pairs = Integer.parseInt(v);
                case "--warmup" -> warmupSeconds = Integer.parseInt(v);
                case "--busy" -> busy = Integer.parseInt(v);
                case "--interval" -> settings = new DetectorSettings(d.listenAddress(), 0, "x", Long.parseLong(v),
                        d.threshold(), d.minStdDevMs(), d.acceptablePauseMs(), d.window());
                case "--threshold" -> settings = new DetectorSettings(d.listenAddress(), 0, "x", d.intervalMs(),
                        Double.parseDouble(v), d.minStdDevMs(), d.acceptablePauseMs(), d.window());
                case "--min-std-dev" -> settings = new DetectorSettings(d.listenAddress(), 0, "x", d.intervalMs(),
                        d.threshold(), Long.parseLong(v), d.acceptablePauseMs(), d.window());
                case "--acceptable-pause" -> settings = new DetectorSettings(d.listenAddress(), 0, "x",
                        d.intervalMs(), d.threshold(), d.minStdDevMs(), Long.parseLong(v), d.window());
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        List<Process> burners = new ArrayList<>();
        try {
            for (int i = 0; i < busy; i++) {
                burners.add(new ProcessBuilder("sh", "-c", "while :; do :; done").start());
            }
            Thread garbage = new Thread(DetectionBenchmark::makeGarbage, "garbage");
            garbage.setDaemon(true);
            garbage.start();
            System.out.printf("Failure detection (%s), %d pairs on loopback, %d s of heartbeats first, the host made "
                    + "busy by %d CPU burner process(es) and a thread allocating 200 MB/s%n", settings, pairs,
                    warmupSeconds, busy);
            System.out.printf("  heartbeat inter-arrival times, %d s at %d ms (what the threshold is chosen from):%n",
                    warmupSeconds, settings.intervalMs());
            System.setProperty(ThreadPriority.PROPERTY, ThreadPriority.NORMAL);
            gaps("normal priority", settings, warmupSeconds);
            System.clearProperty(ThreadPriority.PROPERTY);
            gaps("raised (real-time where allowed)", settings, warmupSeconds);
            System.out.printf("  %-28s %6s %8s %8s %8s %8s %8s %12s%n", "liveness", "trials", "min ms", "p10 ms",
                    "median", "p90 ms", "max ms", "false susp.");
            run(settings, "heartbeats", pairs, warmupSeconds, false);
            run(settings, "heartbeats + ACKs at 40 Hz", pairs, warmupSeconds, true);
        } finally {
            burners.forEach(Process::destroyForcibly);
        }
    }

    /** Keeps the collector busy, as a node's epoch loop and stream do. */
    private static void makeGarbage() {
        long sink = 0;
        while (true) {
            long start = System.nanoTime();
            for (int i = 0; i < 200; i++) {
                byte[] b = new byte[10_000];
                sink += b.length;
            }
            long left = 10_000_000 - (System.nanoTime() - start);
            if (left > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(left);
                } catch (InterruptedException e) {
                    return;
                }
            }
            if (sink < 0) {
                return;
            }
        }
    }

    /** The inter-arrival times of one detector's heartbeats at an observer socket, as its peer sees them. */
    private static void gaps(String priority, DetectorSettings settings, int seconds) throws Exception {
        long[] gaps = new long[(int) (seconds * 1000L / settings.intervalMs()) * 2 + 100];
        AtomicLong count = new AtomicLong();
        long[] last = {0};
        List<UdpFailureDetector> all = new ArrayList<>();
        try (UdpHeartbeats observer = UdpHeartbeats.bind(new InetSocketAddress("127.0.0.1", 0), (h, from) -> {
            long now = System.nanoTime();
            if (last[0] != 0) {
                long n = count.getAndIncrement();
                if (n < gaps.length) {
                    gaps[(int) n] = now - last[0];
                }
            }
            last[0] = now;
        })) {
            UdpFailureDetector sender = start(settings, "sender", all);
            sender.monitor("observer", observer.localAddress(), new FailureDetector.Listener() {
                @Override
                public void suspected(String peerId, double phi) {
                }

                @Override
                public void recovered(String peerId) {
                }
            });
            Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
        } finally {
            all.forEach(UdpFailureDetector::close);
        }
        long[] sorted = Arrays.copyOf(gaps, (int) Math.min(count.get(), gaps.length));
        Arrays.sort(sorted);
        double mean = Arrays.stream(sorted).average().orElse(0) / 1e6;
        double sd = Math.sqrt(Arrays.stream(sorted).mapToDouble(g -> Math.pow(g / 1e6 - mean, 2)).average()
                .orElse(0));
        System.out.printf("    heartbeat threads at %s:%n", priority);
        System.out.printf("    %d gaps: mean %.2f ms, std dev %.2f ms, median %.2f, p99 %.2f, p99.9 %.2f, p99.99 %.2f,"
                + " max %.2f ms%n", sorted.length, mean, sd, ms(sorted, 0.5), ms(sorted, 0.99), ms(sorted, 0.999),
                ms(sorted, 0.9999), ms(sorted, 1.0));
    }

    private static void run(DetectorSettings settings, String label, int pairs, int warmupSeconds, boolean acks) throws Exception {
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
                UdpFailureDetector watcher = start(settings, "w" + i, all);
                UdpFailureDetector watched = start(settings, "p" + i, all);
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

    private static UdpFailureDetector start(DetectorSettings settings, String node, List<UdpFailureDetector> all)
            throws IOException {
        UdpFailureDetector d = new UdpFailureDetector(new DetectorSettings("127.0.0.1", 0, node, settings.intervalMs(),
                settings.threshold(), settings.minStdDevMs(), settings.acceptablePauseMs(), settings.window()));
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
