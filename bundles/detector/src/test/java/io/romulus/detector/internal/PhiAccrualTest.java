package io.romulus.detector.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

class PhiAccrualTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    /** A clock the test moves by hand. */
    private static final class Clock {
        long now = 1_000_000 * MS;

        long get() {
            return now;
        }

        void advanceMillis(long ms) {
            now += ms * MS;
        }
    }

    private static PhiAccrual.Parameters params(long minStdDevMs, long pauseMs, int window) {
        return new PhiAccrual.Parameters(8.0, minStdDevMs * MS, pauseMs * MS, window, 100 * MS);
    }

    private static void beat(PhiAccrual d, Clock clock, int beats, long intervalMs) {
        for (int i = 0; i < beats; i++) {
            clock.advanceMillis(intervalMs);
            d.heartbeat();
        }
    }

    /** Milliseconds of silence after the last heartbeat until phi reaches the threshold. */
    private static long millisToConviction(PhiAccrual d, Clock clock, double threshold) {
        long start = clock.now;
        while (d.phi() < threshold) {
            clock.advanceMillis(1);
            if (clock.now - start > 60_000 * MS) {
                throw new AssertionError("phi never reached " + threshold);
            }
        }
        return (clock.now - start) / MS;
    }

    @Test
    void steadyHeartbeatsKeepPhiLow() {
        Clock clock = new Clock();
        PhiAccrual d = new PhiAccrual(params(100, 0, 100), clock::get);
        for (int i = 0; i < 300; i++) {
            clock.advanceMillis(100);
            assertTrue(d.phi() < 1.0, "phi at a heartbeat due now: " + d.phi());
            d.heartbeat();
            assertTrue(d.phi() < 0.1, "phi just after a heartbeat: " + d.phi());
        }
        // a little jitter is not suspicious either
        for (int i = 0; i < 100; i++) {
            clock.advanceMillis(i % 2 == 0 ? 70 : 130);
            assertTrue(d.phi() < 2.0, "phi with jitter: " + d.phi());
            d.heartbeat();
        }
        assertEquals(100.0, d.meanIntervalMillis(), 0.5);
    }

    @Test
    void aPeerNeverHeardFromGetsASecondMoreThanOneThatStopped() {
        Clock clock = new Clock();
        PhiAccrual never = new PhiAccrual(new PhiAccrual.Parameters(8.0, 10 * MS, 80 * MS, 500, 10 * MS),
                clock::get);
        long silentFromTheStart = millisToConviction(never, clock, 8.0);
        PhiAccrual stopped = new PhiAccrual(new PhiAccrual.Parameters(8.0, 10 * MS, 80 * MS, 500, 10 * MS),
                clock::get);
        beat(stopped, clock, 100, 10);
        long afterHeartbeats = millisToConviction(stopped, clock, 8.0);
        assertTrue(afterHeartbeats > 100 && afterHeartbeats < 200, "a peer that stopped: " + afterHeartbeats + " ms");
        assertTrue(Math.abs(afterHeartbeats + 1000 - silentFromTheStart) <= 20,
                "a peer never heard from: " + silentFromTheStart + " ms");
    }

    @Test
    void silenceRaisesPhiMonotonicallyPastTheThresholdInPredictableTime() {
        Clock clock = new Clock();
        PhiAccrual d = new PhiAccrual(params(100, 0, 100), clock::get);
        beat(d, clock, 200, 100);

        double previous = d.phi();
        for (int i = 0; i < 200; i++) {
            clock.advanceMillis(10);
            double phi = d.phi();
            assertTrue(phi > previous, "phi fell from " + previous + " to " + phi + " after " + (i + 1) * 10 + " ms");
            assertTrue(Double.isFinite(phi));
            previous = phi;
        }
        assertTrue(previous > 8.0, "after 2 s of silence phi is " + previous);

        // mean 100 ms, std dev clamped to 100 ms: phi = 8 at y ~ 5.22, i.e. after ~622 ms of silence
        PhiAccrual fresh = new PhiAccrual(params(100, 0, 100), clock::get);
        beat(fresh, clock, 200, 100);
        long t = millisToConviction(fresh, clock, 8.0);
        assertTrue(t >= 600 && t <= 650, "convicted after " + t + " ms");
    }

    @Test
    void minimumStandardDeviationPreventsAHairTrigger() {
        Clock clock = new Clock();
        PhiAccrual tight = new PhiAccrual(params(1, 0, 100), clock::get);
        PhiAccrual guarded = new PhiAccrual(params(100, 0, 100), clock::get);
        for (int i = 0; i < 200; i++) {
            clock.advanceMillis(100);
            tight.heartbeat();
            guarded.heartbeat();
        }
        assertEquals(0.0, guarded.stdDevMillis(), 1e-9, "perfectly regular heartbeats");
        clock.advanceMillis(150); // one heartbeat 50 ms late
        assertTrue(tight.phi() > 8.0, "without a minimum, 50 ms late convicts: phi " + tight.phi());
        assertTrue(guarded.phi() < 1.0, "with 100 ms minimum, 50 ms late is nothing: phi " + guarded.phi());
    }

    @Test
    void acceptablePauseShiftsConviction() {
        Clock clock = new Clock();
        PhiAccrual strict = new PhiAccrual(params(100, 0, 100), clock::get);
        PhiAccrual patient = new PhiAccrual(params(100, 1000, 100), clock::get);
        for (int i = 0; i < 100; i++) {
            clock.advanceMillis(100);
            strict.heartbeat();
            patient.heartbeat();
        }
        long start = clock.now;
        long strictAfter = millisToConviction(strict, clock, 8.0);
        clock.now = start;
        long patientAfter = millisToConviction(patient, clock, 8.0);
        assertEquals(1000.0, (double) (patientAfter - strictAfter), 2.0, "strict " + strictAfter + " ms, patient " + patientAfter);

        clock.now = start;
        clock.advanceMillis(900);
        assertTrue(strict.phi() > 8.0 && patient.phi() < 1.0, "at 900 ms: strict " + strict.phi() + ", patient "
                + patient.phi());
    }

    @Test
    void windowSlides() {
        Clock clock = new Clock();
        PhiAccrual d = new PhiAccrual(params(100, 0, 10), clock::get);
        beat(d, clock, 30, 100);
        assertEquals(10, d.sampleCount());
        assertEquals(100.0, d.meanIntervalMillis(), 1e-6);
        beat(d, clock, 5, 200);
        long slow = Math.round(d.meanIntervalMillis());
        assertTrue(slow > 100 && slow < 200, "half way the mean is " + slow);
        beat(d, clock, 10, 200);
        assertEquals(10, d.sampleCount());
        assertEquals(200.0, d.meanIntervalMillis(), 1e-6, "only the last 10 intervals count");
        assertEquals(0.0, d.stdDevMillis(), 1e-6);
    }

    @Test
    void anOutageIsNotSampled() {
        Clock clock = new Clock();
        PhiAccrual d = new PhiAccrual(params(100, 0, 100), clock::get);
        beat(d, clock, 50, 100);
        clock.advanceMillis(5000);
        assertTrue(d.phi() > 8.0);
        d.heartbeat();
        assertTrue(d.phi() < 1.0, "heard again: " + d.phi());
        assertEquals(100.0, d.meanIntervalMillis(), 1e-6, "the 5 s gap does not make the detector slower");
    }

    @Test
    void otherEvidenceRestartsTheSilenceWithoutSampling() {
        Clock clock = new Clock();
        PhiAccrual d = new PhiAccrual(params(100, 0, 100), clock::get);
        beat(d, clock, 50, 100);
        for (int i = 0; i < 100; i++) {
            clock.advanceMillis(30);
            d.alive();
            assertTrue(d.phi() < 0.5, "phi with ACKs every 30 ms: " + d.phi());
        }
        assertEquals(100.0, d.meanIntervalMillis(), 1e-6, "ACKs do not distort the heartbeat statistics");
        assertTrue(millisToConviction(d, clock, 8.0) < 700);
    }

    @Test
    void aPeerNeverHeardFromIsSuspectedToo() {
        Clock clock = new Clock();
        PhiAccrual d = new PhiAccrual(params(100, 0, 100), clock::get);
        assertTrue(d.phi() < 0.5);
        long t = millisToConviction(d, clock, 8.0);
        assertTrue(t >= 1600 && t <= 1700, "a silent peer is convicted after " + t + " ms (a second of grace)");
    }

    @Test
    void retuningKeepsTheMostRecentIntervals() {
        Clock clock = new Clock();
        PhiAccrual d = new PhiAccrual(params(100, 0, 10), clock::get);
        beat(d, clock, 10, 100);
        beat(d, clock, 4, 150);
        d.retune(params(100, 0, 4));
        assertEquals(4, d.sampleCount());
        assertEquals(150.0, d.meanIntervalMillis(), 1e-6);
        d.retune(params(100, 0, 8));
        assertEquals(4, d.sampleCount());
        beat(d, clock, 4, 50);
        assertEquals(100.0, d.meanIntervalMillis(), 1e-6);
        beat(d, clock, 4, 50);
        assertEquals(8, d.sampleCount());
        assertEquals(50.0, d.meanIntervalMillis(), 1e-6);
    }

    @Test
    void phiFormula() {
        assertEquals(Math.log10(2), PhiAccrual.phi(100, 100, 10), 1e-12, "half a chance at the mean");
        // logistic approximation: phi = log10(1 + e^a), a = y (1.5976 + 0.070566 y^2)
        double a = 3 * (1.5976 + 0.070566 * 9);
        assertEquals(Math.log10(1 + Math.exp(a)), PhiAccrual.phi(130, 100, 10), 1e-9);
        // near the exact normal tail: P(Y > 3) = 1.3499e-3, phi 2.87; the logistic tail is a little lighter
        assertEquals(2.87, PhiAccrual.phi(130, 100, 10), 0.05);
        assertTrue(Double.isFinite(PhiAccrual.phi(1e12, 100, 10)), "finite even after a very long silence");
        assertTrue(PhiAccrual.phi(-1e12, 100, 10) >= 0);
    }

    @Test
    void rejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> params(0, 0, 10));
        assertThrows(IllegalArgumentException.class, () -> params(10, -1, 10));
        assertThrows(IllegalArgumentException.class, () -> params(10, 0, 1));
        assertThrows(IllegalArgumentException.class,
                () -> new PhiAccrual.Parameters(Double.NaN, MS, 0, 10, 100 * MS));
    }
}
