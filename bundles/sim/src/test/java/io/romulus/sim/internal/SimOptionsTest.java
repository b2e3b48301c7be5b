package io.romulus.sim.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

class SimOptionsTest {

    @Test
    void sizesInTheUsualSpellings() {
        assertEquals(256L << 20, SimOptions.parseSize("256M"));
        assertEquals(256L << 20, SimOptions.parseSize("256MiB"));
        assertEquals(1L << 30, SimOptions.parseSize("1G"));
        assertEquals(64L << 10, SimOptions.parseSize("64k"));
        assertEquals(8192, SimOptions.parseSize("8192"));
    }

    @Test
    void optionsAreParsedAndTheirDefaultsFilled() {
        SimOptions o = SimOptions.parse(Map.of("memory", "256M", "dirty-rate", "5000", "locality", "0.5"));
        assertEquals(256L << 20, o.memoryBytes());
        assertEquals(5000, o.dirtyRate());
        assertEquals(0.5, o.locality());
        assertEquals(SimOptions.defaults().packetRate(), o.packetRate());
        assertEquals(o, SimOptions.parse(o.toMap()), "a replica rebuilds the same options");
    }

    @Test
    void badOptionsAreRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> SimOptions.parse(Map.of("colour", "red")));
        assertTrue(e.getMessage().contains("colour") && e.getMessage().contains("dirty-rate"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SimOptions.parse(Map.of("memory", "huge")));
        assertTrue(e.getMessage().contains("huge"));
        e = assertThrows(IllegalArgumentException.class, () -> SimOptions.parse(Map.of("memory", "512K")));
        assertTrue(e.getMessage().contains("between 1 MiB and 64 GiB"));
        e = assertThrows(IllegalArgumentException.class, () -> SimOptions.parse(Map.of("locality", "2")));
        assertTrue(e.getMessage().contains("locality"));
        e = assertThrows(IllegalArgumentException.class, () -> SimOptions.parse(Map.of("dirty-rate", "-1")));
        assertTrue(e.getMessage().contains("dirty-rate"));
        assertThrows(IllegalArgumentException.class, () -> SimOptions.parse(Map.of("memory", "99999999999999999999G")));
    }
}
