package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.Properties;

import org.junit.jupiter.api.Test;

/**
 * The edits src/main/karaf/assembly-property-edits.xml makes to the etc/ files karaf:assembly generates, each with
 * its reason there: all of them, since one lost edit (a viewer calling failover through Hawtio's Jolokia) is not
 * seen by a node that boots.
 */
class PropertyEditsTest {

    private static Properties etc(String file) throws IOException {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(Distribution.assembly().resolve("etc").resolve(file))) {
            p.load(in);
        }
        return p;
    }

    @Test
    void bootFeaturesAreInstalledAsynchronouslyAndNoFeatureOperationRefreshesOtherBundles() throws Exception {
        Properties cfg = etc("org.apache.karaf.features.cfg");
        // installed on the start-level thread, the Hawtio console's webbundle: URL may find no handler (RomulusNodeIT)
        assertEquals("true", cfg.getProperty("featuresBootAsynchronous"), cfg.toString());
        assertEquals("false", cfg.getProperty("autoRefresh"), cfg.toString());
        assertTrue(cfg.getProperty("featuresBoot", "").contains("romulus/"), cfg.getProperty("featuresBoot"));
    }

    @Test
    void hawtioAsksForAKarafLoginAndItsJolokiaObeysTheJmxAcls() throws Exception {
        Properties system = etc("system.properties");
        assertEquals("io.hawt.system.RBACRestrictor", system.getProperty("jolokia.restrictorClass"));
        assertEquals("true", system.getProperty("hawtio.authenticationEnabled"));
        assertEquals("karaf", system.getProperty("hawtio.realm"));
        assertEquals("admin,manager,viewer", system.getProperty("hawtio.roles"));
    }
}
