package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The adaptive interval, driven epoch by epoch with made-up observations: no clock, no domain. */
class AdaptiveIntervalTest {

    private static final long MS = 1_000_000;
    private static final EngineSettings.IntervalPolicy ADAPTIVE = new EngineSettings.IntervalPolicy(true, 10, 200);

    /** {@code n} epochs that waited {@code waitedMs} for ACKs, paused {@code pauseMs} and held {@code held} packets. */
    private static int epochs(AdaptiveInterval a, int n, double waitedMs, double pauseMs, long held) {
        int ms = a.currentMs();
        for (int i = 0; i < n; i++) {
            ms = a.checkpointTaken((long) (waitedMs * MS), (long) (pauseMs * MS), held);
        }
        return ms;
    }

    @Test
    void fixedModeKeepsTheSetIntervalWhateverHappens() {
        AdaptiveInterval a = new AdaptiveInterval(25, EngineSettings.IntervalPolicy.FIXED);
        assertEquals(25, epochs(a, 50, 100, 20, 0));
        assertEquals(25, epochs(a, 50, 0, 0.1, 40));
        assertEquals(AdaptiveInterval.Reason.FIXED, a.reason());
        assertEquals("fixed", a.describe());
    }

    @Test
    void aLightlyLoadedQuietDomainStaysAtTheSetInterval() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        assertEquals(25, epochs(a, 200, 0, 3, 0));
        assertEquals(AdaptiveInterval.Reason.SET, a.reason());
    }

    @Test
    void backPressureEpochAfterEpochLengthensUpToTheBoundAndSaysWhy() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        assertEquals(25, epochs(a, AdaptiveInterval.PRESSURE_EPOCHS - 1, 20, 3, 0));
        assertEquals(32, epochs(a, 1, 20, 3, 0));
        assertEquals(AdaptiveInterval.Reason.BACKLOG, a.reason());
        assertTrue(a.describe().contains("waited 20.0 ms for ACKs"), a.describe());
        assertEquals(200, epochs(a, 40, 100, 3, 0));
        assertEquals(AdaptiveInterval.Reason.BACKLOG, a.reason());
    }

    @Test
    void oneLongStallOfTheLinkLengthensNothing() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        // TCP retransmitting on a lossy link: one epoch waits 600 ms, the next ones find the window empty
        for (int i = 0; i < 10; i++) {
            assertEquals(25, epochs(a, 1, 600, 3, 0));
            assertEquals(25, epochs(a, 4, 0, 3, 0));
        }
        // nor does a pause now and then that a busy host stretches
        for (int i = 0; i < 10; i++) {
            assertEquals(25, epochs(a, 1, 0, 30, 0));
            assertEquals(25, epochs(a, 2, 0, 3, 0));
        }
        assertEquals(AdaptiveInterval.Reason.SET, a.reason());
    }

    @Test
    void aWaitOfLessThanATenthOfTheIntervalIsNoBackPressure() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        assertEquals(25, epochs(a, 30, 2, 3, 0));
    }

    @Test
    void pausesThatDominateLengthenTheEpochUntilTheyNoLongerDo() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        // 12 ms pauses in 25 ms epochs: almost half the time paused
        int ms = epochs(a, 40, 0, 12, 0);
        assertEquals(AdaptiveInterval.Reason.PAUSES, a.reason());
        assertTrue(ms >= 40 && 12.0 / ms <= AdaptiveInterval.PAUSE_HIGH, "interval " + ms);
        // and it stays there while they last, without stepping back into them
        for (int i = 0; i < 40; i++) {
            assertEquals(ms, epochs(a, 1, 0, 12, 0));
        }
    }

    @Test
    void onceCalmTheIntervalReturnsToTheSetOne() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        epochs(a, 40, 100, 3, 0);
        assertEquals(200, a.currentMs());
        // calm epochs: it holds for a while, then steps down to the set interval and stops there
        assertEquals(200, epochs(a, AdaptiveInterval.CALM_EPOCHS - 1, 0, 3, 0));
        epochs(a, 1, 0, 3, 0);
        assertEquals(AdaptiveInterval.Reason.RETURNING, a.reason());
        assertTrue(a.currentMs() < 200);
        assertEquals(25, epochs(a, 30, 0, 3, 0));
        assertEquals(AdaptiveInterval.Reason.SET, a.reason());
    }

    @Test
    void waitingOutputShortensTheIntervalWhilePausesAreShort() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        assertEquals(25, epochs(a, AdaptiveInterval.CALM_EPOCHS - 1, 0, 0.5, 3));
        int ms = epochs(a, 30, 0, 0.5, 3);
        assertEquals(10, ms);
        assertEquals(AdaptiveInterval.Reason.OUTPUT, a.reason());
        assertTrue(a.describe().contains("3 packets held"), a.describe());
        // when the output stops, it goes back up to the set interval
        assertEquals(25, epochs(a, 30, 0, 0.5, 0));
        assertEquals(AdaptiveInterval.Reason.SET, a.reason());
    }

    @Test
    void waitingOutputDoesNotShortenTheIntervalIntoLongPauses() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        // 2 ms pauses: a fifth shorter (20 ms) would pause a tenth of the time; it stays
        assertEquals(25, epochs(a, 50, 0, 2.5, 5));
        AdaptiveInterval b = new AdaptiveInterval(25, ADAPTIVE);
        // 1.5 ms pauses: it shortens until the pauses would take a tenth
        int ms = epochs(b, 50, 0, 1.5, 5);
        assertTrue(ms < 25 && ms >= 15, "interval " + ms);
    }

    @Test
    void growingWinsOverShrinkingAndResetsTheCalm() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        epochs(a, 30, 0, 0.5, 3);
        assertEquals(10, a.currentMs());
        // back-pressure with output waiting: it lengthens, and does not shrink again in the next few calm epochs
        int grown = epochs(a, AdaptiveInterval.PRESSURE_EPOCHS, 5, 0.5, 3);
        assertEquals(13, grown);
        assertEquals(13, epochs(a, AdaptiveInterval.CALM_EPOCHS - 1, 0, 0.5, 3));
    }

    @Test
    void theBoundsAlwaysIncludeTheSetInterval() {
        AdaptiveInterval a = new AdaptiveInterval(500, ADAPTIVE);
        assertEquals(500, epochs(a, AdaptiveInterval.PRESSURE_EPOCHS, 400, 3, 0));
        assertEquals(AdaptiveInterval.Reason.BACKLOG, a.reason());
        a.target(5);
        assertEquals(5, a.currentMs());
        assertEquals(5, epochs(a, 40, 0, 0.1, 9));
        assertEquals(200, epochs(a, 80, 100, 0.1, 0));
    }

    @Test
    void settingTheIntervalRestartsFromIt() {
        AdaptiveInterval a = new AdaptiveInterval(25, ADAPTIVE);
        epochs(a, 5, 100, 3, 0);
        a.target(40);
        assertEquals(40, a.currentMs());
        assertEquals(40, a.targetMs());
        assertEquals(AdaptiveInterval.Reason.SET, a.reason());
    }

    @Test
    void theModeAndBoundsAreCheckedWithTheirKeys() {
        assertTrue(EngineSettings.IntervalPolicy.parseMode(" Adaptive"));
        assertEquals(false, EngineSettings.IntervalPolicy.parseMode("fixed"));
        var e = assertThrows(IllegalArgumentException.class, () -> EngineSettings.IntervalPolicy.parseMode("auto"));
        assertTrue(e.getMessage().contains("interval.mode"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new EngineSettings.IntervalPolicy(true, 50, 20));
        assertTrue(e.getMessage().contains("interval.adaptive.min.ms"), e.getMessage());
        assertEquals(EngineSettings.IntervalPolicy.DEFAULT, EngineSettings.defaults("n").intervalPolicy());
    }
}
