package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;

import org.junit.jupiter.api.Test;

class EpochHistoryTest {

    private static final long[] PARTS = {10_000, 20_000, 50_000, 5_000, 1_000, 9_000, 3_000};

    private static void add(EpochHistory h, long epoch) {
        h.add(epoch, 0, 25_000_000, 10, 100_000, PARTS, 300_000, 10);
    }

    @Test
    void keepsOnlyTheNewestEpochsOldestFirst() {
        EpochHistory h = new EpochHistory(4);
        for (long e = 1; e <= 10; e++) {
            add(h, e);
        }
        List<EpochStats> recent = h.recent(100);
        assertEquals(List.of(7L, 8L, 9L, 10L), recent.stream().map(EpochStats::epoch).toList());
        assertEquals(List.of(9L, 10L), h.recent(2).stream().map(EpochStats::epoch).toList());
        assertNull(h.get(3), "epoch 3 was evicted");
    }

    @Test
    void transferAndAckCompleteAnEntryOnlyForTheirOwnEpoch() {
        EpochHistory h = new EpochHistory(4);
        add(h, 5);
        h.transferred(5, 40_960, 10_240, 200_000);
        h.acknowledged(5, 3_000_000);
        h.acknowledged(5, 9_000_000);
        h.transferred(1, 1, 1, 1); // slot of 1 is the slot of 5: an evicted epoch must not overwrite it
        EpochStats s = h.get(5);
        assertEquals(40_960, s.rawBytes());
        assertEquals(10_240, s.wireBytes());
        assertEquals(4.0, s.compressionRatio());
        assertEquals(3_000_000, s.ackNanos(), "the first ACK time stays");
        assertEquals(500_000, s.cpuNanos(), "the loop's CPU time and the sender's");
        assertEquals(10, s.writeFaults());
        assertTrue(h.recent(10).contains(s));
    }

    @Test
    void theEnginesCpuTimeOfTheLastFiveSecondsCountsTheSendersToo() {
        EpochHistory h = new EpochHistory(8);
        assertEquals(EngineCpu.UNKNOWN, h.cpu(10_000));
        h.add(1, 1_000, 25_000_000, 10, 100_000, PARTS, 900_000, 0); // left the window
        h.add(2, 8_000, 25_000_000, 10, 100_000, PARTS, 100_000, 0);
        h.add(3, 9_000, 25_000_000, 10, 100_000, PARTS, 300_000, 0);
        h.add(4, 9_500, 25_000_000, 10, 100_000, PARTS, -1, 0);
        h.transferred(2, 1, 1, 100_000);
        // 200 and 300 µs: the median is the upper one, 500 µs over the 2 s since epoch 2 started
        assertEquals(new EngineCpu(300_000, 250_000, 2), h.cpu(10_000));
    }

    @Test
    void keepsThePausesBreakdown() {
        EpochHistory h = new EpochHistory(4);
        add(h, 3);
        PARTS[PauseClock.STOP] = 99; // the history copied the parts: the loop reuses its array
        EpochStats s = h.get(3);
        assertEquals(new PauseBreakdown(10_000, 20_000, 50_000, 5_000, 1_000, 9_000, 3_000), s.breakdown());
        assertEquals(50_000, s.copyNanos());
        assertEquals(2_000, s.breakdown().otherNanos(s.pauseNanos()));
        PARTS[PauseClock.STOP] = 10_000;
    }

    @Test
    void cpuTimeNotKnownStaysUnknown() {
        EpochHistory h = new EpochHistory(4);
        h.add(2, 0, 25_000_000, 10, 100_000, PARTS, -1, -1);
        h.transferred(2, 4096, 4096, 150_000);
        assertEquals(-1, h.get(2).cpuNanos());
        assertEquals(-1, h.get(2).writeFaults());
    }

    @Test
    void emptyHistoryIsEmpty() {
        assertTrue(new EpochHistory(8).recent(5).isEmpty());
    }
}
