package io.romulus.detector.internal;

import java.util.function.LongSupplier;

/**
 * The phi-accrual failure detector of Hayashibara et al. ("The phi accrual failure detector", SRDS 2004) for one
 * peer: instead of a yes/no timeout it gives a suspicion level phi that grows the longer the peer stays silent,
 * relative to how regularly it has been heard from so far.
 *
 * <p>The inter-arrival times of the last {@code window} heartbeats are assumed normally distributed with the
 * sample mean (plus the acceptable heartbeat pause) and the sample standard deviation (but never less than the
 * minimum standard deviation, so that perfectly regular beats do not make a hair trigger). With {@code t} the time
 * since the peer was last heard from,
 *
 * <pre>
 *   phi(t) = -log10(1 - F(t))
 * </pre>
 *
 * where {@code F} is that normal CDF. Like Akka, {@code F} is the logistic approximation of the normal CDF
 * (Bowling et al. 2009, error below 1.4e-4): with {@code y = (t - mean) / stdDev} and
 * {@code a = y * (1.5976 + 0.070566 * y * y)}, {@code F = 1 / (1 + e^-a)}, so
 *
 * <pre>
 *   phi(t) = log10(1 + e^a)
 * </pre>
 *
 * computed without overflow, so phi stays finite and strictly increasing during silence (about {@code a / ln 10} once
 * the peer is late). phi = 8 is reached at {@code y ~ 5.22}: a peer is convicted at threshold 8 after
 * {@code mean + acceptablePause + 5.22 * max(stdDev, minStdDev)} of silence. The approximation is close where it
 * matters for tuning (phi 2.91 against the exact 2.87 at three standard deviations) and its tail is lighter than the
 * normal's far out (the exact normal reaches phi 8 at {@code y ~ 5.61}), so it convicts a little earlier; thresholds
 * mean what they mean in Akka, which uses the same formula.
 *
 * <p>Two kinds of arrival: a {@linkplain #heartbeat() heartbeat} is sampled into the window (its inter-arrival
 * from the previous heartbeat), while {@linkplain #alive() other evidence} (checkpoint ACKs) only restarts the
 * silence, so frequent ACKs never distort the heartbeat statistics. An inter-arrival long enough to have convicted
 * the peer by itself is not sampled (as in Akka), so an outage does not make the detector slower the next time.
 *
 * <p>Until the first heartbeat, the window holds two samples around the expected interval
 * ({@code interval ± interval/4}), and the silence is counted from construction: a peer never heard from is
 * suspected like one that stopped. Time comes from an injected clock in nanoseconds. Thread safe.
 */
public final class PhiAccrual {

    private static final double LN10 = Math.log(10);

    /**
     * How the detector judges.
     *
     * @param threshold            phi at and above which the peer counts as failed (for sampling decisions)
     * @param minStdDevNanos       the smallest standard deviation used, in nanoseconds
     * @param acceptablePauseNanos added to the mean inter-arrival time, in nanoseconds
     * @param window               how many inter-arrival times are kept
     * @param expectedIntervalNanos the heartbeat interval expected before any was seen, in nanoseconds
     */
    public record Parameters(double threshold, long minStdDevNanos, long acceptablePauseNanos, int window,
            long expectedIntervalNanos) {

        public Parameters {
            if (!(threshold > 0) || Double.isInfinite(threshold)) {
                throw new IllegalArgumentException("threshold must be a positive number, not " + threshold);
            }
            if (minStdDevNanos <= 0) {
                throw new IllegalArgumentException("the minimum standard deviation must be positive, not "
                        + minStdDevNanos + " ns");
            }
            if (acceptablePauseNanos < 0) {
                throw new IllegalArgumentException("the acceptable pause must not be negative, not "
                        + acceptablePauseNanos + " ns");
            }
            if (window < 2) {
                throw new IllegalArgumentException("the window must hold at least 2 intervals, not " + window);
            }
            if (expectedIntervalNanos <= 0) {
                throw new IllegalArgumentException("the expected interval must be positive, not "
                        + expectedIntervalNanos + " ns");
            }
        }

        /** From the detector's settings. */
        public static Parameters of(DetectorSettings s) {
            return new Parameters(s.threshold(), s.minStdDevMs() * 1_000_000L, s.acceptablePauseMs() * 1_000_000L,
                    s.window(), s.intervalMs() * 1_000_000L);
        }
    }

    private final LongSupplier clock;
    private Parameters parameters;
    private long[] samples;
    private int next;
    private int count;
    private boolean heard;
    private long lastHeartbeat;
    private long lastArrival;
    private long heartbeats;

    /** How much longer a peer never heard from may stay silent: see {@link #phi()}. */
    static final long FIRST_HEARTBEAT_GRACE_NANOS = 1_000_000_000L;

    /**
     * @param parameters how to judge
     * @param nanoClock  monotonic time in nanoseconds ({@code System::nanoTime} outside tests)
     */
    public PhiAccrual(Parameters parameters, LongSupplier nanoClock) {
        this.parameters = parameters;
        this.clock = nanoClock;
        this.samples = new long[parameters.window()];
        long expected = parameters.expectedIntervalNanos();
        add(expected - expected / 4);
        add(expected + expected / 4);
        long now = nanoClock.getAsLong();
        this.lastHeartbeat = now;
        this.lastArrival = now;
    }

    /** A heartbeat arrived now. */
    public synchronized void heartbeat() {
        long now = clock.getAsLong();
        if (heard) {
            long interval = now - lastHeartbeat;
            if (interval >= 0 && phi(interval) < parameters.threshold()) {
                add(interval);
            }
        }
        heard = true;
        heartbeats++;
        lastHeartbeat = now;
        if (now - lastArrival > 0) {
            lastArrival = now;
        }
    }

    /** Other proof that the peer is alive arrived now: restarts the silence without sampling an interval. */
    public synchronized void alive() {
        long now = clock.getAsLong();
        if (now - lastArrival > 0) {
            lastArrival = now;
        }
    }

    /**
     * The suspicion level now. Until its first heartbeat a peer gets {@link #FIRST_HEARTBEAT_GRACE_NANOS} more: it is
     * monitored from the moment a stream names it, a little before it starts sending (its own stream set-up, a busy
     * initial copy), and a node that never heard from its peer has no evidence that it stopped.
     */
    public synchronized double phi() {
        long silence = clock.getAsLong() - lastArrival;
        return phi(heard ? silence : silence - FIRST_HEARTBEAT_GRACE_NANOS);
    }

    /** Milliseconds since the peer was last heard from (heartbeat or other evidence). */
    public synchronized double silenceMillis() {
        return (clock.getAsLong() - lastArrival) / 1e6;
    }

    /** The mean of the sampled inter-arrival times, in milliseconds (without the acceptable pause). */
    public synchronized double meanIntervalMillis() {
        return mean() / 1e6;
    }

    /** The standard deviation of the sampled inter-arrival times, in milliseconds (before the minimum applies). */
    public synchronized double stdDevMillis() {
        return Math.sqrt(variance(mean())) / 1e6;
    }

    /** How many inter-arrival times the window holds. */
    public synchronized int sampleCount() {
        return count;
    }

    /** Heartbeats received so far. */
    public synchronized long heartbeats() {
        return heartbeats;
    }

    /** Retunes; a smaller window keeps the most recent intervals. */
    public synchronized void retune(Parameters p) {
        if (p.window() != samples.length) {
            long[] resized = new long[p.window()];
            int keep = Math.min(count, p.window());
            for (int i = 0; i < keep; i++) {
                resized[keep - 1 - i] = samples[Math.floorMod(next - 1 - i, samples.length)];
            }
            samples = resized;
            count = keep;
            next = keep % resized.length;
        }
        parameters = p;
    }

    private double phi(long elapsedNanos) {
        double mean = mean();
        double stdDev = Math.max(Math.sqrt(variance(mean)), (double) parameters.minStdDevNanos());
        return phi((double) elapsedNanos, mean + parameters.acceptablePauseNanos(), stdDev);
    }

    /** {@code log10(1 + e^a)} with the logistic approximation's {@code a}, computed without overflow. */
    static double phi(double elapsed, double mean, double stdDev) {
        double y = (elapsed - mean) / stdDev;
        double a = y * (1.5976 + 0.070566 * y * y);
        double lnOnePlusExpA = a > 0 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a));
        return lnOnePlusExpA / LN10;
    }

    private void add(long interval) {
        samples[next] = interval;
        next = (next + 1) % samples.length;
        if (count < samples.length) {
            count++;
        }
    }

    private double mean() {
        double sum = 0;
        for (int i = 0; i < count; i++) {
            sum += samples[i];
        }
        return sum / count;
    }

    private double variance(double mean) {
        double sum = 0;
        for (int i = 0; i < count; i++) {
            double d = samples[i] - mean;
            sum += d * d;
        }
        return sum / count;
    }
}
