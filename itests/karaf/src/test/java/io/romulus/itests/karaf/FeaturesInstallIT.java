package io.romulus.itests.karaf;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.EnumSet;

import javax.inject.Inject;
import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.apache.karaf.features.FeaturesService;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;

/** Each Romulus feature installs on its own into a node that booted without them. */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class FeaturesInstallIT extends RomulusTestSupport {

    @Inject
    private FeaturesService features;

    @Configuration
    public Option[] config() {
        return node("featuresBoot", "standard, framework");
    }

    @Test
    public void eachFeatureInstallsInAFreshContainer() throws Exception {
        assertFalse("booted without romulus", features.isInstalled(features.getFeature("romulus-core")));
        for (String f : new String[] {"romulus-core", "romulus-sim", "romulus-qemu", "romulus-xen", "romulus-nbd", "romulus-drbd", "romulus-netbuf",
            "romulus-witness-zookeeper", "romulus-scaleout", "romulus-hawtio"}) {
            // no refresh: a refresh rewires the test probe itself and invalidates its BundleContext
            features.installFeature(f, EnumSet.of(FeaturesService.Option.NoAutoRefreshBundles));
            assertTrue(f + " installed", features.isInstalled(features.getFeature(f)));
        }
        for (String bsn : new String[] {"io.romulus.api", "io.romulus.engine", "io.romulus.transport.mina",
            "io.romulus.detector", "io.romulus.shell", "io.romulus.sim", "io.romulus.qemu", "io.romulus.xen",
            "io.romulus.nbd", "io.romulus.drbd", "io.romulus.netbuf", "io.romulus.witness.zookeeper"}) {
            Bundle b = find(bsn);
            assertTrue(bsn + " present", b != null);
            await(bsn + " ACTIVE", 30, () -> b.getState() == Bundle.ACTIVE);
        }
        String out = execute("romulus:status");
        assertTrue(out, out.contains("No domain is protected on this node."));

        // romulus-core brings the failure detector: its MBean service, exported to JMX, and romulus:detector
        // by name: the probe was wired before the API bundle was installed
        await("a DetectorMBean service", 30,
                () -> bundleContext.getServiceReference("io.romulus.api.management.DetectorMBean") != null);
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName detector = new ObjectName("io.romulus:type=Detector,name=detector");
        await(detector + " registered", 30, () -> server.isRegistered(detector));
        assertEquals(NODE_ID, server.getAttribute(detector, "NodeId"));
        assertEquals("127.0.0.1:" + HEARTBEAT_PORT, server.getAttribute(detector, "ListenAddress"));
        out = execute("romulus:detector");
        assertTrue(out, out.contains("UDP 127.0.0.1:" + HEARTBEAT_PORT) && out.contains("No peer is monitored"));
    }

    private Bundle find(String bsn) {
        for (Bundle b : bundleContext.getBundles()) {
            if (bsn.equals(b.getSymbolicName())) {
                return b;
            }
        }
        return null;
    }
}
