package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EngineSettingsTest {

    @Test
    void defaultsAreFortyHertz() {
        EngineSettings s = EngineSettings.defaults("node-a");
        assertEquals(25, s.intervalMs());
        assertEquals(1024, s.historySize());
    }

    @Test
    void badValuesAreRefusedWithTheKeyName() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new EngineSettings("n", 0, 1, 100, 10, 10, 10, 4, 256,
                        EngineSettings.FailoverMode.MANUAL, 7490, false));
        assertTrue(e.getMessage().contains("between 1 and 100 ms"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new EngineSettings("", 25, 1, 100, 10, 10, 10, 4, 256,
                        EngineSettings.FailoverMode.MANUAL, 7490, false));
        assertTrue(e.getMessage().contains("node.id"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new EngineSettings("n", 25, 1, 100, 10, 10, 10, 0, 256,
                        EngineSettings.FailoverMode.MANUAL, 7490, false));
        assertTrue(e.getMessage().contains("max.inflight.epochs"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EngineSettings.defaults("n").checkInterval(20_000));
    }
}
