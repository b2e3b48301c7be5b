package io.romulus.itests.karaf;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.lang.management.ManagementFactory;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import javax.inject.Inject;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.management.openmbean.TabularData;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.netbuf.OutputBufferStats;

import org.apache.karaf.features.FeaturesService;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.OptionUtils;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.karaf.options.KarafDistributionOption;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;

/** The assembly as it boots: every feature, bundle, MBean, the shell, Hawtio, and protection over loopback. */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class RomulusNodeIT extends RomulusTestSupport {

    @Inject
    private ReplicationEngine engine;

    @Inject
    private FeaturesService features;

    /**
     * The node as the assembly boots it, with the boot's rarer path forced: the mvn: URL handler registered at once
     * (not after its configuration arrives), so that the features service starts, and installs the boot features, on
     * the framework's start-level thread. Installed synchronously there, the Hawtio console's webbundle: URL found no
     * handler (its bundle's start waits for that thread) and the container never came up; the assembly installs them
     * asynchronously (assembly-property-edits.xml).
     */
    @Configuration
    public Option[] config() {
        return OptionUtils.combine(node(), KarafDistributionOption.editConfigurationFilePut("etc/config.properties",
                "org.ops4j.pax.url.mvn.requireConfigAdminConfig", "false"));
    }

    @Test
    public void everyRomulusFeatureIsInstalledAndEveryBundleActive() throws Exception {
        for (String f : new String[] {"romulus-core", "romulus-sim", "romulus-qemu", "romulus-xen", "romulus-nbd", "romulus-drbd", "romulus-netbuf",
            "romulus-witness-zookeeper", "romulus-scaleout", "romulus-hawtio", "romulus"}) {
            assertTrue(f + " installed", features.isInstalled(features.getFeature(f)));
        }
        List<String> romulus = new ArrayList<>();
        for (Bundle b : bundleContext.getBundles()) {
            if (b.getSymbolicName().startsWith("io.romulus")) {
                assertEquals(b.getSymbolicName() + " is ACTIVE", Bundle.ACTIVE, b.getState());
                romulus.add(b.getSymbolicName());
            }
        }
        assertTrue(romulus.toString(), romulus.containsAll(List.of("io.romulus.api", "io.romulus.engine",
                "io.romulus.transport.mina", "io.romulus.detector", "io.romulus.shell", "io.romulus.sim",
                "io.romulus.qemu", "io.romulus.xen", "io.romulus.nbd", "io.romulus.drbd", "io.romulus.netbuf",
                "io.romulus.witness.zookeeper", "io.romulus.scaleout", "io.romulus.hawtio")));
        // the replicated disk's NBD exports and both disk replicators are services of the node
        await("DiskExports and two DiskReplicators", 30, () -> bundleContext.getServiceReference(
                "io.romulus.api.disk.DiskExports") != null && serviceCount("io.romulus.api.disk.DiskReplicator") == 2);
        // no etc/io.romulus.witness.zookeeper.cfg here: the witness bundle runs, but there is no witness
        assertEquals(null, bundleContext.getServiceReference("io.romulus.api.witness.Witness"));
    }

    @Test
    public void theMBeansAreRegistered() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        for (String name : new String[] {"io.romulus:type=Engine,name=engine", "io.romulus:type=Transport,name=mina",
            "io.romulus:type=Hypervisor,name=sim", "io.romulus:type=Hypervisor,name=qemu",
            "io.romulus:type=Hypervisor,name=xen", "io.romulus:type=Drbd,name=drbd",
            "io.romulus:type=NetBuffer,name=outputs", "io.romulus:type=Detector,name=detector",
            "io.romulus:type=ScaleOut,name=scaleout"}) {
            ObjectName on = new ObjectName(name);
            await(name + " registered", 30, () -> server.isRegistered(on));
        }
        assertEquals("sim", server.getAttribute(new ObjectName("io.romulus:type=Hypervisor,name=sim"), "Binding"));
        // the node ships the demo guest and the preload library, and scripts/test installs QEMU
        ObjectName qemu = new ObjectName("io.romulus:type=Hypervisor,name=qemu");
        assertTrue(server.getAttribute(qemu, "Availability").toString(),
                (Boolean) server.getAttribute(qemu, "Available"));
        // this machine is no Xen dom0: the Xen binding runs (libvirt-java, JNA and libxenctrl load) and says why it
        // cannot protect anything here
        ObjectName xen = new ObjectName("io.romulus:type=Hypervisor,name=xen");
        assertFalse((Boolean) server.getAttribute(xen, "Available"));
        String why = server.getAttribute(xen, "Availability").toString();
        assertTrue(why, why.contains("not running on Xen") && why.contains("libvirt xen:///system"));
        // nor has it the DRBD kernel module: the coordinator runs and says so
        ObjectName drbd = new ObjectName("io.romulus:type=Drbd,name=drbd");
        assertFalse((Boolean) server.getAttribute(drbd, "Available"));
        String drbdWhy = (String) server.getAttribute(drbd, "Reason");
        assertTrue(drbdWhy, drbdWhy.contains("DRBD kernel module not loaded"));
        String listen = (String) server.getAttribute(new ObjectName("io.romulus:type=Transport,name=mina"),
                "ListenAddress");
        assertTrue(listen, listen.endsWith(":" + STREAM_PORT));
        ObjectName detector = new ObjectName("io.romulus:type=Detector,name=detector");
        assertEquals(NODE_ID, server.getAttribute(detector, "NodeId"));
        assertEquals("127.0.0.1:" + HEARTBEAT_PORT, server.getAttribute(detector, "ListenAddress"));
        assertEquals(8.0, server.getAttribute(detector, "Threshold"));
        assertEquals(0, ((TabularData) server.getAttribute(detector, "Peers")).size());
    }

    @Test
    public void scalingADomainNotDeclaredReadOnlyIsRefusedThroughTheMBeanAndTheShell() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName scaleOut = new ObjectName("io.romulus:type=ScaleOut,name=scaleout");
        await("the ScaleOut MBean", 30, () -> server.isRegistered(scaleOut));
        assertEquals(0, ((String[]) server.getAttribute(scaleOut, "ReadOnlyDomains")).length);
        try {
            server.invoke(scaleOut, "scale", new Object[] {"qemu:demo", 2}, new String[] {"java.lang.String", "int"});
            throw new AssertionError("scaling a domain that is not declared read-only was not refused");
        } catch (javax.management.MBeanException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("qemu:demo is not declared read-only"));
        }
        try {
            execute("romulus:scale qemu:demo --pairs 2");
            throw new AssertionError("romulus:scale did not refuse a domain that is not declared read-only");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("qemu:demo is not declared read-only"));
        }
    }

    @Test
    public void theStatusCommandRuns() throws Exception {
        String out = execute("romulus:status");
        assertTrue(out, out.contains("No domain is protected on this node.") || out.contains("Domain"));
        out = execute("romulus:drbd");
        assertTrue(out, out.contains("DRBD is unavailable on this host"));
        out = execute("romulus:detector");
        assertTrue(out, out.contains("Node id         " + NODE_ID) && out.contains("UDP 127.0.0.1:" + HEARTBEAT_PORT));
    }

    @Test
    public void hawtioAnswersBehindTheKarafLogin() throws Exception {
        await("Hawtio deployed", 90, () -> status("/hawtio/", null) == 200 || status("/hawtio/", null) == 302);
        int page = status("/hawtio/", null);
        assertTrue("Hawtio page: " + page, page == 200 || page == 302);
        String jolokia = "/hawtio/jolokia/read/java.lang:type=Runtime/VmName";
        int anonymous = status(jolokia, null);
        assertTrue("Jolokia refuses anonymous reads: " + anonymous, anonymous == 401 || anonymous == 403);
        assertEquals(200, status(jolokia, USER + ":" + PASSWORD));
        assertEquals(200, status("/hawtio/jolokia/read/io.romulus:type=Engine,name=engine/ProtectedDomains",
                USER + ":" + PASSWORD));
        // Jolokia answers 200 also for an MBean it does not know: the status in the body is what tells
        String nodeId = body("/hawtio/jolokia/read/io.romulus:type=Detector,name=detector/NodeId",
                USER + ":" + PASSWORD);
        assertTrue(nodeId, nodeId.contains("\"value\":\"" + NODE_ID + "\"") && nodeId.contains("\"status\":200"));
    }

    private static String body(String path, String credentials) throws java.io.IOException {
        HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + HTTP_PORT + path).openConnection();
        c.setRequestProperty("Authorization", "Basic "
                + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8)));
        try (java.io.InputStream in = c.getInputStream()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    private static int status(String path, String credentials) {
        try {
            HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + HTTP_PORT + path).openConnection();
            c.setInstanceFollowRedirects(false);
            if (credentials != null) {
                c.setRequestProperty("Authorization", "Basic "
                        + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8)));
            }
            int code = c.getResponseCode();
            c.disconnect();
            return code;
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    /**
     * The node replicates a synthetic domain to itself for 200 epochs. I2: with verify on, the backup checks every
     * committed checkpoint against a CRC32C of the primary's whole memory taken in its pause and refuses any that
     * differs. I1: a higher-ranked output buffer wraps the sim binding's and checks, at every release of epoch N,
     * that the backup has committed N.
     */
    @Test
    public void protectsASyntheticDomainOverLoopback() throws Exception {
        Collection<ServiceReference<OutputBufferProvider>> sims = bundleContext.getServiceReferences(
                OutputBufferProvider.class, "(romulus.binding=sim)");
        assertEquals(1, sims.size());
        OutputBufferProvider sim = bundleContext.getService(sims.iterator().next());
        CommitChecking checking = new CommitChecking(sim);
        @SuppressWarnings("JdkObsolete") // OSGi's registerService takes a Dictionary
        Dictionary<String, Object> props = new Hashtable<>();
        props.put(Constants.SERVICE_RANKING, 100);
        ServiceRegistration<OutputBufferProvider> reg = bundleContext.registerService(OutputBufferProvider.class,
                checking, props);
        DomainId demo = DomainId.parse("sim:itest");
        try {
            engine.protect(new ProtectRequest(demo, InetSocketAddress.createUnresolved("127.0.0.1", STREAM_PORT), 25,
                    Map.of("memory", "16M", "dirty-rate", "2000", "packet-rate", "500"), true));
            await("200 committed epochs", 120, () -> row(Role.BACKUP).epoch() >= 200
                    && row(Role.PRIMARY).epoch() >= 200);
            ProtectionStatus primary = row(Role.PRIMARY);
            ProtectionStatus backup = row(Role.BACKUP);
            assertEquals(ProtectionState.PROTECTED, primary.state());
            assertEquals(ProtectionState.PROTECTED, backup.state());
            assertTrue(backup.detail(), backup.detail().matches(".*verified \\d{3,} checkpoints.*"));
            String shown = execute("romulus:status");
            assertTrue(shown, shown.contains("sim:itest") && shown.contains("PRIMARY") && shown.contains("BACKUP"));
            String epochs = execute("romulus:epochs sim:itest -n 5");
            assertTrue(epochs, epochs.contains("Pause (µs)"));
            String netbuf = execute("romulus:netbuf");
            assertTrue(netbuf, netbuf.contains("sim:itest") && netbuf.contains("Epochs held"));
        } finally {
            engine.unprotect(demo);
            reg.unregister();
        }
        assertEquals(List.of(), checking.violations);
        assertTrue("releases checked: " + checking.releases.get(), checking.releases.get() >= 150);
        assertTrue("packets released", checking.released.get() > 0);
    }

    private ProtectionStatus row(Role role) {
        return engine.status().stream().filter(s -> s.role() == role && s.domain().equals("sim:itest")).findFirst()
                .orElse(new ProtectionStatus("sim:itest", role, ProtectionState.CONNECTING, -1, 0, 0, 0, 0, "", ""));
    }

    /** Wraps the sim binding's output buffer and checks I1 against the backup's committed epoch. */
    private final class CommitChecking implements OutputBufferProvider {

        final OutputBufferProvider delegate;
        final List<String> violations = new CopyOnWriteArrayList<>();
        final AtomicLong releases = new AtomicLong();
        final AtomicLong released = new AtomicLong();

        CommitChecking(OutputBufferProvider delegate) {
            this.delegate = delegate;
        }

        @Override
        public String name() {
            return "itest-commit-check";
        }

        @Override
        public boolean supports(GuestInterface nic) {
            return delegate.supports(nic);
        }

        @Override
        public OutputBuffer attach(GuestInterface nic) throws OutputBufferException {
            OutputBuffer inner = delegate.attach(nic);
            return new OutputBuffer() {
                private boolean passing;

                @Override
                public String interfaceName() {
                    return inner.interfaceName();
                }

                @Override
                public void seal(long epoch) {
                    inner.seal(epoch);
                }

                @Override
                public void release(long epoch) {
                    long committed = row(Role.BACKUP).epoch();
                    if (!passing && committed < epoch && violations.size() < 10) {
                        violations.add("output of epoch " + epoch + " released while the backup had committed "
                                + committed);
                    }
                    releases.incrementAndGet();
                    inner.release(epoch);
                    released.set(inner.stats().packetsReleased());
                }

                @Override
                public void discard() {
                    inner.discard();
                }

                @Override
                public void passThrough() {
                    passing = true;
                    inner.passThrough();
                }

                @Override
                public void resumeBuffering() {
                    passing = false;
                    inner.resumeBuffering();
                }

                @Override
                public OutputBufferStats stats() {
                    return inner.stats();
                }

                @Override
                public void close() {
                    inner.close();
                }
            };
        }
    }

    private int serviceCount(String clazz) {
        try {
            org.osgi.framework.ServiceReference<?>[] refs = bundleContext.getServiceReferences(clazz, null);
            return refs == null ? 0 : refs.length;
        } catch (org.osgi.framework.InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
