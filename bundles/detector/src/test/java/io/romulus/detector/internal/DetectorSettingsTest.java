package io.romulus.detector.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;

class DetectorSettingsTest {

    /** The configuration as ConfigAdmin would give it: the defaults, overridden by {@code values}. */
    private static DetectorConfig config(Map<String, Object> values) {
        return (DetectorConfig) Proxy.newProxyInstance(DetectorConfig.class.getClassLoader(),
                new Class<?>[] {DetectorConfig.class},
                (proxy, method, args) -> values.containsKey(method.getName()) ? values.get(method.getName())
                        : method.getDefaultValue());
    }

    @Test
    void defaultsFromTheConfiguration() throws Exception {
        DetectorSettings s = DetectorSettings.of(config(Map.of("node_id", "node-a", "auth_secret_file", "")));
        assertEquals(DetectorSettings.defaults("node-a"), s);
        assertEquals(7490, s.listen().getPort());
        assertEquals(10, s.intervalMs());
        assertEquals(8.0, s.threshold());
        assertEquals(10, s.minStdDevMs());
        assertEquals(80, s.acceptablePauseMs());
        assertEquals(500, s.window());
    }

    @Test
    void theSecretIsTheStreamsFileInKarafEtcByDefault() throws Exception {
        String before = System.getProperty("karaf.etc");
        try {
            System.clearProperty("karaf.etc");
            IOException e = assertThrows(IOException.class, () -> DetectorSettings.of(config(Map.of())));
            assertTrue(e.getMessage().contains("karaf.etc"), e.getMessage());
            System.setProperty("karaf.etc", "/opt/romulus/etc");
            assertEquals(Path.of("/opt/romulus/etc/romulus-stream.secret"),
                    DetectorSettings.of(config(Map.of())).secretFile());
            assertEquals(Path.of("/srv/hb.secret"),
                    DetectorSettings.of(config(Map.of("auth_secret_file", " /srv/hb.secret "))).secretFile());
        } finally {
            if (before == null) {
                System.clearProperty("karaf.etc");
            } else {
                System.setProperty("karaf.etc", before);
            }
        }
    }

    @Test
    void anEmptyNodeIdIsTheHostName() throws Exception {
        String node = DetectorSettings.of(config(Map.of("auth_secret_file", ""))).nodeId();
        assertFalse(node.isBlank());
    }

    @Test
    void rebindingOnlyForAnotherAddressOrPort() {
        DetectorSettings s = DetectorSettings.defaults("a");
        assertFalse(s.rebinds(new DetectorSettings("0.0.0.0", 7490, "b", 50, 12, 10, 0, 10)));
        assertTrue(s.rebinds(s.withListen("127.0.0.1", 7490)));
        assertTrue(s.rebinds(s.withListen("0.0.0.0", 7491)));
    }

    @Test
    void rejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> DetectorSettings.defaults(" "));
        assertThrows(IllegalArgumentException.class, () -> DetectorSettings.defaults("n".repeat(256)));
        DetectorSettings s = DetectorSettings.defaults("a");
        assertThrows(IllegalArgumentException.class, () -> s.withListen("0.0.0.0", 65536));
        assertThrows(IllegalArgumentException.class, () -> s.withListen("", 7490));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DetectorSettings.of(config(Map.of("node_id", "a", "threshold", 0.0, "auth_secret_file", ""))));
        assertTrue(e.getMessage().contains("threshold"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> DetectorSettings.of(config(Map.of("node_id", "a", "min_std_dev_ms", 0L, "auth_secret_file",
                        ""))));
        assertTrue(e.getMessage().contains("min.std.dev.ms"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> DetectorSettings.of(config(Map.of("node_id", "a", "window", 1, "auth_secret_file", ""))));
        assertTrue(e.getMessage().contains("window"), e.getMessage());
    }
}
