package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** When the epoch loop takes the next checkpoint: the interval is the checkpoints' period, the pause part of it. */
class EpochScheduleTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    @Test
    void theNextPauseBeginsOneIntervalAfterTheLastBeganSoA25msIntervalIs40Hz() {
        long pauseStart = 1_000 * MS;
        long resumed = pauseStart + 3 * MS; // a 3 ms pause
        assertEquals(pauseStart + 25 * MS, EpochLoop.nextCheckpoint(pauseStart, resumed, 25));
        long pauses = 0;
        long start = pauseStart;
        for (int i = 0; i < 40; i++) {
            start = EpochLoop.nextCheckpoint(start, start + 3 * MS, 25);
            pauses++;
        }
        assertEquals(40, pauses);
        assertEquals(pauseStart + 1_000 * MS, start, "40 checkpoints in one second");
    }

    @Test
    void aPauseTakingMostOfTheIntervalStillLeavesTheDomainAQuarterOfItToRun() {
        long pauseStart = 1_000 * MS;
        long resumed = pauseStart + 22 * MS; // a 22 ms pause of a 25 ms interval
        assertEquals(resumed + 25 * MS / 4, EpochLoop.nextCheckpoint(pauseStart, resumed, 25));
        long late = pauseStart + 40 * MS; // the pause and the wait for room overran the interval
        assertEquals(late + 25 * MS / 4, EpochLoop.nextCheckpoint(pauseStart, late, 25));
    }

    @Test
    void whenProtectionStartsTheFirstEpochRunsTheWholeInterval() {
        long start = 5 * MS;
        assertEquals(start + 25 * MS, EpochLoop.nextCheckpoint(start, start, 25));
    }
}
