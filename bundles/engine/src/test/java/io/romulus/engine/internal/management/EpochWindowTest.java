package io.romulus.engine.internal.management;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectionState;

import org.junit.jupiter.api.Test;

class EpochWindowTest {

    /** Epoch {@code i} started at {@code i * 10} ms, paused {@code i} µs, dirtied 2 pages, sent 4096 of 8192 bytes. */
    private static List<EpochStats> epochs(int n) {
        List<EpochStats> out = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            out.add(new EpochStats(i, i * 10L, 9_000_000, 2, i * 1000L, 0, 8192, 4096, i < n ? 500_000 : -1));
        }
        return out;
    }

    @Test
    void ratesAreOverTheCheckpointsOfTheWindowUpToNow() {
        // 200 checkpoints at 10, 20, ... 2000 ms; at 2010 ms a 1 s window holds those from 1020 ms on: 99 of them
        EpochWindow w = EpochWindow.of(epochs(200), 2010, 1000);
        assertEquals(99 / 0.99, w.checkpointsPerSecond(), 1e-9);
        assertEquals(2 * 99 / 0.99, w.dirtyPagesPerSecond(), 1e-9);
        assertEquals(8192 * 99 / 0.99, w.rawBytesPerSecond(), 1e-6);
        assertEquals(2.0, w.compressionRatio(), 1e-9);
        assertEquals((102 + 200) / 2.0, w.meanPauseMicros(), 1e-9);
        assertEquals(200, w.p99PauseMicros(), "nearest rank: the 99th of 99 pauses");
        assertEquals(500, w.ackMicros(), "the last checkpoint is not acknowledged yet");
    }

    @Test
    void aProtectionThatStoppedCheckpointingDropsToZero() {
        assertEquals(EpochWindow.EMPTY, EpochWindow.of(epochs(10), 60_000, 5000));
        assertEquals(EpochWindow.EMPTY, EpochWindow.of(List.of(), 60_000, 5000));
    }

    @Test
    void theInitialCopyProgressComesFromItsDetail() {
        assertEquals(0, ProtectionMBeanImpl.initialSyncPercent(ProtectionState.CONNECTING, "connecting"));
        assertEquals(42, ProtectionMBeanImpl.initialSyncPercent(ProtectionState.SYNCING,
                "initial copy 42% (10 of 24 MiB)"));
        assertEquals(100, ProtectionMBeanImpl.initialSyncPercent(ProtectionState.SYNCING,
                "initial copy sent; waiting for the first checkpoint's ACK"));
        assertEquals(100, ProtectionMBeanImpl.initialSyncPercent(ProtectionState.PROTECTED, ""));
    }
}
