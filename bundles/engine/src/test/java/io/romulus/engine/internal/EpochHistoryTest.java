package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.romulus.api.engine.EpochStats;

import org.junit.jupiter.api.Test;

class EpochHistoryTest {

    private static EpochStats stats(long epoch) {
        return new EpochStats(epoch, 0, 25_000_000, 10, 100_000, 50_000, 0, 0, -1);
    }

    @Test
    void keepsOnlyTheNewestEpochsOldestFirst() {
        EpochHistory h = new EpochHistory(4);
        for (long e = 1; e <= 10; e++) {
            h.add(stats(e));
        }
        List<EpochStats> recent = h.recent(100);
        assertEquals(List.of(7L, 8L, 9L, 10L), recent.stream().map(EpochStats::epoch).toList());
        assertEquals(List.of(9L, 10L), h.recent(2).stream().map(EpochStats::epoch).toList());
        assertNull(h.get(3), "epoch 3 was evicted");
    }

    @Test
    void transferAndAckCompleteAnEntryOnlyForTheirOwnEpoch() {
        EpochHistory h = new EpochHistory(4);
        h.add(stats(5));
        h.transferred(5, 40_960, 10_240);
        h.acknowledged(5, 3_000_000);
        h.acknowledged(5, 9_000_000);
        h.transferred(1, 1, 1); // slot of 1 is the slot of 5: an evicted epoch must not overwrite it
        EpochStats s = h.get(5);
        assertEquals(40_960, s.rawBytes());
        assertEquals(10_240, s.wireBytes());
        assertEquals(4.0, s.compressionRatio());
        assertEquals(3_000_000, s.ackNanos(), "the first ACK time stays");
        assertTrue(h.recent(10).contains(s));
    }

    @Test
    void emptyHistoryIsEmpty() {
        assertTrue(new EpochHistory(8).recent(5).isEmpty());
    }
}
