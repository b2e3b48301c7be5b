package io.romulus.itests.karaf;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Dictionary;
import java.util.Optional;

import javax.inject.Inject;

import io.romulus.api.witness.Witness;
import io.romulus.api.witness.Witness.Lease;
import io.romulus.api.witness.WitnessException;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.OptionUtils;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * The ZooKeeper witness in the assembly, configured by etc/io.romulus.witness.zookeeper.cfg: against a real
 * ZooKeeper (run by the test JVM) as ZooKeeper user romulus (digest authentication, ACLs on its znodes), then
 * against one that is not there, then without a configuration.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class ZooKeeperWitnessIT extends RomulusTestSupport {

    private static final String PID = "io.romulus.witness.zookeeper";
    private static final String CFG = "etc/" + PID + ".cfg";

    @Inject
    private ConfigurationAdmin configurations;

    @Configuration
    public Option[] config() throws Exception {
        // runs in the test JVM, which keeps the ZooKeeper server until it exits
        String zookeeper = ZooKeeperForTests.connectString();
        // as etc/io.romulus.witness.zookeeper.cfg.example advises: a ZooKeeper identity, its password in a file
        Path password = Path.of("target", "zookeeper-itest.password").toAbsolutePath();
        Files.writeString(password, PASSWORD + "\n", StandardCharsets.UTF_8);
        return OptionUtils.combine(node(),
                systemProperty("romulus.itest.zookeeper").value(zookeeper),
                editConfigurationFilePut(CFG, "connect.string", zookeeper),
                editConfigurationFilePut(CFG, "session.timeout.ms", "4000"),
                editConfigurationFilePut(CFG, "auth.user", "romulus"),
                editConfigurationFilePut(CFG, "auth.password.file", password.toString()));
    }

    @Test
    public void aLeaseThroughZooKeeperThenNoZooKeeperThenNoWitness() throws Exception {
        Bundle bundle = find("io.romulus.witness.zookeeper");
        assertTrue("the witness bundle is installed", bundle != null);
        await("the witness bundle ACTIVE", 30, () -> bundle.getState() == Bundle.ACTIVE);

        String zookeeper = System.getProperty("romulus.itest.zookeeper");
        Witness witness = awaitWitness(zookeeper);
        assertEquals("ZooKeeper " + zookeeper + "/romulus (session 4000 ms, user romulus)", witness.describe());
        Lease lease = witness.tryAcquire("itest-domain", "itest-node").orElseThrow();
        assertTrue(lease.held());
        assertTrue(lease.confirm());
        assertEquals(Optional.of("itest-node"), witness.holder("itest-domain"));
        assertEquals(Optional.empty(), witness.tryAcquire("itest-domain", "other-node"));
        lease.close();
        assertEquals(Optional.empty(), witness.holder("itest-domain"));

        // a ZooKeeper that is not there: the witness exists, answers "unknown" in bounded time, and nothing breaks
        int dead;
        try (ServerSocket s = new ServerSocket(0)) {
            dead = s.getLocalPort();
        }
        org.osgi.service.cm.Configuration c = configurations.getConfiguration(PID, null);
        Dictionary<String, Object> properties = c.getProperties();
        properties.put("connect.string", "127.0.0.1:" + dead);
        c.update(properties);
        Witness nowhere = awaitWitness("127.0.0.1:" + dead);
        long start = System.nanoTime();
        try {
            nowhere.tryAcquire("itest-domain", "itest-node");
            fail("a lease without ZooKeeper");
        } catch (WitnessException expected) {
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue("answered after " + ms + " ms", ms < 5000);
        }
        assertEquals(Bundle.ACTIVE, bundle.getState());

        // no configuration: no witness at all, and the bundle still runs
        c.delete();
        await("the witness service gone", 30,
                () -> bundleContext.getServiceReference(Witness.class) == null);
        assertEquals(Bundle.ACTIVE, bundle.getState());
        try {
            nowhere.holder("itest-domain");
            fail("an answer from a witness that was stopped");
        } catch (WitnessException expected) {
            // closed, or not connected while it closes
        }
    }

    /** The witness service once it describes {@code connectString}. */
    private Witness awaitWitness(String connectString) throws InterruptedException {
        Witness[] found = new Witness[1];
        await("a witness on " + connectString, 30, () -> {
            ServiceReference<Witness> ref = bundleContext.getServiceReference(Witness.class);
            Witness w = ref == null ? null : bundleContext.getService(ref);
            if (w != null && w.describe().contains(connectString)) {
                found[0] = w;
                return true;
            }
            return false;
        });
        return found[0];
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
