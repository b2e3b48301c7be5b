package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.util.Properties;

import org.junit.jupiter.api.Test;

/**
 * The assembly's boot features are installed on a thread of their own (src/main/karaf/assembly-property-edits.xml):
 * installed on the framework's start-level thread, which happens when the mvn: URL handler is up before the features
 * service starts, the Hawtio console's webbundle: URL finds no handler and the node never boots (RomulusNodeIT boots
 * that way on purpose).
 */
class BootFeaturesTest {

    @Test
    void bootFeaturesAreInstalledAsynchronouslyAndIncludeRomulus() throws Exception {
        Properties cfg = new Properties();
        try (InputStream in = Files.newInputStream(Distribution.assembly().resolve("etc/org.apache.karaf.features.cfg"))) {
            cfg.load(in);
        }
        assertEquals("true", cfg.getProperty("featuresBootAsynchronous"), cfg.toString());
        assertTrue(cfg.getProperty("featuresBoot", "").contains("romulus/"), cfg.getProperty("featuresBoot"));
    }
}
