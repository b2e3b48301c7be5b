package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

class PauseClockTest {

    @Test
    void aPartsHandOffCountsAsHandOffNotAsThePart() throws Exception {
        PauseClock c = new PauseClock();
        c.start(System.nanoTime());
        Thread.sleep(2);
        c.lap(PauseClock.STOP, 500_000);
        c.lap(PauseClock.HARVEST, 0);
        c.skip();
        Thread.sleep(1);
        c.lap(PauseClock.CONT, 300_000);
        assertEquals(800_000, c.part(PauseClock.HAND_OFF));
        assertTrue(c.part(PauseClock.STOP) >= TimeUnit.MILLISECONDS.toNanos(2) - 500_000, "" + c.part(PauseClock.STOP));
        assertTrue(c.part(PauseClock.CONT) >= TimeUnit.MILLISECONDS.toNanos(1) - 300_000, "" + c.part(PauseClock.CONT));
        assertEquals(0, c.part(PauseClock.COPY));
    }

    @Test
    void aHandOffLongerThanItsPartIsCutToThePartAndStartClearsTheParts() {
        PauseClock c = new PauseClock();
        c.start(System.nanoTime());
        c.lap(PauseClock.DEVICE_STATE, Long.MAX_VALUE);
        assertEquals(0, c.part(PauseClock.DEVICE_STATE));
        assertTrue(c.part(PauseClock.HAND_OFF) >= 0);
        c.start(System.nanoTime());
        for (long p : c.parts()) {
            assertEquals(0, p);
        }
    }
}
