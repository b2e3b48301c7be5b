package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.romulus.api.engine.EngineCpu;

import org.junit.jupiter.api.Test;

class CheckpointCpuTest {

    @Test
    void theMedianPerCheckpointAndTheSumPerSecondOfTheLastFiveSeconds() {
        CheckpointCpu c = new CheckpointCpu(8);
        assertEquals(EngineCpu.UNKNOWN, c.summary(10_000));
        c.add(1_000, 9_000_000); // left the window by now
        c.add(8_000, 300_000);
        c.add(9_000, 100_000);
        c.add(9_500, 200_000);
        c.add(9_600, -1); // not known: not counted
        // 600 µs over the 2 s since the oldest in the window began
        assertEquals(new EngineCpu(200_000, 300_000, 3), c.summary(10_000));
        assertFalse(c.summary(20_000).known(), "no checkpoint in the last 5 s");
    }

    @Test
    void keepsTheNewestCheckpointsOnly() {
        CheckpointCpu c = new CheckpointCpu(2);
        c.add(9_000, 1_000_000);
        c.add(9_100, 10_000);
        c.add(9_200, 20_000);
        assertEquals(new EngineCpu(20_000, 30_000, 2), c.summary(10_100));
    }
}
