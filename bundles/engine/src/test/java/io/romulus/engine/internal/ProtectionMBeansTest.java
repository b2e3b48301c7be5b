package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import javax.management.MBeanAttributeInfo;
import javax.management.MBeanException;
import javax.management.MBeanServer;
import javax.management.MBeanServerFactory;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.openmbean.OpenType;
import javax.management.openmbean.TabularData;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.engine.internal.management.EngineMBeanImpl;
import io.romulus.engine.internal.management.HypervisorMBeanImpl;
import io.romulus.engine.internal.management.NetBufferMBeanImpl;
import io.romulus.engine.internal.management.ProtectionMBeans;
import io.romulus.sim.internal.SimHypervisor;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The engine's MBeans as Hawtio reads them: a sim domain protected from one engine to another, the primary's MBeans
 * in the platform MBeanServer and the backup's in a second one, read over JMX. Hawtio plots scalars and renders
 * tables, so every attribute must be of an open type.
 */
@Timeout(60)
class ProtectionMBeansTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final InetSocketAddress PEER = InetSocketAddress.createUnresolved("127.0.0.1", 7480);
    private static final Map<String, String> WORKLOAD = Map.of("memory", "4M", "dirty-rate", "20000",
            "packet-rate", "2000", "locality", "0.7");
    private static final ObjectName ENGINE = name("io.romulus:type=Engine,name=engine");
    private static final ObjectName NETBUF = name("io.romulus:type=NetBuffer,name=outputs");
    private static final ObjectName SIM = name("io.romulus:type=Hypervisor,name=sim");

    private final SimHypervisor primarySim = new SimHypervisor();
    private final SimHypervisor backupSim = new SimHypervisor();
    /** Each node listens on a port of its own (node-b at {@link #PEER}): a switchover's stream back reaches node-a. */
    private final Map<Integer, LoopbackTransport> network = new ConcurrentHashMap<>();
    private final LoopbackTransport linkA = new LoopbackTransport(7481, network);
    private final LoopbackTransport linkB = new LoopbackTransport(7480, network);
    private final MBeanServer platform = ManagementFactory.getPlatformMBeanServer();
    private final MBeanServer backupServer = MBeanServerFactory.newMBeanServer();
    private final List<ProtectionMBeans> registries = new ArrayList<>();
    private Engine primary;
    private Engine backup;

    private static ObjectName name(String text) {
        try {
            return new ObjectName(text);
        } catch (Exception e) {
            throw new IllegalArgumentException(text, e);
        }
    }

    private static Engine node(String name) {
        return new Engine(new EngineSettings(name, 25, 1, 10_000, 512, 3000, 20, 4, 64,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
    }

    @BeforeEach
    void nodes() throws Exception {
        primary = node("node-a");
        primary.addHypervisor(primarySim);
        primary.addOutputBufferProvider(primarySim, 0);
        backup = node("node-b");
        backup.addHypervisor(backupSim);
        primary.setTransport(linkA);
        backup.setTransport(linkB);
        platform.registerMBean(new EngineMBeanImpl(primary), ENGINE);
        platform.registerMBean(new NetBufferMBeanImpl(primary), NETBUF);
        platform.registerMBean(new HypervisorMBeanImpl(primarySim), SIM);
        registries.add(new ProtectionMBeans(primary, (n, mbean) -> register(platform, n, mbean)));
        registries.add(new ProtectionMBeans(backup, (n, mbean) -> register(backupServer, n, mbean)));
    }

    private static Runnable register(MBeanServer server, ObjectName name, Object mbean) throws Exception {
        server.registerMBean(mbean, name);
        return () -> {
            try {
                server.unregisterMBean(name);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
    }

    @AfterEach
    void stop() throws Exception {
        registries.forEach(ProtectionMBeans::close);
        for (ObjectName n : new ObjectName[] {ENGINE, NETBUF, SIM}) {
            platform.unregisterMBean(n);
        }
        primary.shutdown();
        backup.shutdown();
        primarySim.deactivate();
        backupSim.deactivate();
    }

    @Test
    void theProtectionMBeanSwitchesTheDomainOverToItsBackup() throws Exception {
        backup.addOutputBufferProvider(backupSim, 0);
        ObjectName demo = ProtectionMBeans.objectName(DEMO.toString());
        primary.protect(new ProtectRequest(DEMO, PEER, 10, WORKLOAD));
        await().atMost(Duration.ofSeconds(20)).until(() -> platform.isRegistered(demo)
                && "PROTECTED".equals(platform.getAttribute(demo, "State")));

        String done = (String) platform.invoke(demo, "switchover", new Object[0], new String[0]);
        assertTrue(done.contains("handed over to node-b"), done);
        await().atMost(Duration.ofSeconds(10)).until(() -> backupSim.domain("demo") != null);
        await().atMost(Duration.ofSeconds(10)).until(() -> "PRIMARY".equals(backupServer.getAttribute(demo,
                "Role")));
        MBeanException refused = assertThrows(MBeanException.class,
                () -> platform.invoke(ENGINE, "switchover", new Object[] {"sim:other"},
                        new String[] {"java.lang.String"}));
        assertTrue(refused.getMessage().contains("not protected by this node"), refused.getMessage());
    }

    @Test
    void eachProtectedDomainHasAnMBeanOfScalarsOnBothNodesUntilItIsUnprotected() throws Exception {
        ObjectName demo = ProtectionMBeans.objectName(DEMO.toString());
        assertEquals("io.romulus:type=Protection,domain=\"sim:demo\"", demo.toString());
        primary.protect(new ProtectRequest(DEMO, PEER, 10, WORKLOAD));

        await().atMost(Duration.ofSeconds(20)).until(() -> platform.isRegistered(demo)
                && backupServer.isRegistered(demo) && "PROTECTED".equals(platform.getAttribute(demo, "State")));
        assertEquals("PRIMARY", platform.getAttribute(demo, "Role"));
        assertEquals("BACKUP", backupServer.getAttribute(demo, "Role"));
        assertEquals("127.0.0.1:7480", platform.getAttribute(demo, "Peer"));
        assertEquals(10, platform.getAttribute(demo, "IntervalMs"));
        assertEquals(10, platform.getAttribute(demo, "CurrentIntervalMs"));
        assertEquals("fixed", platform.getAttribute(demo, "IntervalReason"));
        assertEquals("", backupServer.getAttribute(demo, "IntervalReason"));
        assertEquals(100, platform.getAttribute(demo, "InitialSyncPercent"));

        long first = (Long) platform.getAttribute(demo, "Epoch");
        await().atMost(Duration.ofSeconds(10)).until(() -> (Long) platform.getAttribute(demo, "Epoch") > first);
        await().atMost(Duration.ofSeconds(10)).until(() -> (Double) platform.getAttribute(demo,
                "CheckpointsPerSecond") > 5 && (Double) platform.getAttribute(demo, "DirtyPagesPerSecond") > 0
                && (Long) platform.getAttribute(demo, "AckLatencyMicros") >= 0);
        double rate = (Double) platform.getAttribute(demo, "CheckpointsPerSecond");
        assertTrue(rate < 150, "at most one checkpoint per 10 ms interval and its pause: " + rate);
        double mean = (Double) platform.getAttribute(demo, "MeanPauseMicros");
        long p99 = (Long) platform.getAttribute(demo, "P99PauseMicros");
        assertTrue(mean > 0 && p99 >= mean, "mean " + mean + " p99 " + p99);
        assertTrue((Double) platform.getAttribute(demo, "WireBytesPerSecond") > 0);
        assertTrue((Double) platform.getAttribute(demo, "RawBytesPerSecond") > 0);
        assertTrue((Double) platform.getAttribute(demo, "CompressionRatio") > 0);
        assertTrue((Long) platform.getAttribute(demo, "OutputHeldPackets") >= 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> (Double) backupServer.getAttribute(demo,
                "CheckpointsPerSecond") > 5);
        // the engine's own CPU time on both nodes: on the backup, receiving, staging and applying the checkpoints
        for (MBeanServer node : List.of(platform, backupServer)) {
            await().atMost(Duration.ofSeconds(10)).until(() -> (Long) node.getAttribute(demo,
                    "EngineCpuMicrosPerCheckpoint") > 0 && (Double) node.getAttribute(demo,
                    "EngineCpuMillisPerSecond") > 0);
            MBeanAttributeInfo perCheckpoint = Arrays.stream(node.getMBeanInfo(demo).getAttributes())
                    .filter(a -> a.getName().equals("EngineCpuMicrosPerCheckpoint")).findFirst().orElseThrow();
            assertTrue(perCheckpoint.getDescription().contains("backup: the thread that receives the stream"),
                    perCheckpoint.getDescription());
        }

        for (ObjectName n : List.of(demo, ENGINE, NETBUF, SIM)) {
            assertOpenTypes(platform, n);
        }
        assertOpenTypes(backupServer, demo);
        TabularData status = assertInstanceOf(TabularData.class, platform.getAttribute(ENGINE, "Status"));
        CompositeData row = status.values().stream().map(CompositeData.class::cast).findFirst().orElseThrow();
        // key and value strings: Jolokia makes it a JSON object of strings, which Hawtio shows line by line
        assertEquals(Set.of("key", "value"), row.getCompositeType().keySet());
        assertEquals("sim:demo PRIMARY", row.get("key"));
        assertTrue(row.get("value").toString().matches("PROTECTED, epoch \\d+, interval \\d+ ms, pause \\d+ µs, .*"),
                row.toString());

        TabularData buffers = assertInstanceOf(TabularData.class, platform.getAttribute(NETBUF, "Buffers"));
        assertTrue(buffers.size() > 0, "the sim domain's output is held");
        for (Object o : buffers.values()) {
            CompositeData b = (CompositeData) o;
            assertEquals(Set.of("key", "value"), b.getCompositeType().keySet());
            assertTrue(b.get("key").toString().startsWith("sim:demo "), b.toString());
            assertTrue(b.get("value").toString().matches(".+: \\d+ packets \\(\\d+ bytes\\) queued, \\d+ packets "
                    + "\\(\\d+ bytes\\) released, \\d+ dropped, \\d+ epochs outstanding"), b.toString());
        }

        primary.alarms().raise(Alarm.Kind.WITNESS, DEMO, "the witness is away");
        TabularData alarms = assertInstanceOf(TabularData.class, platform.getAttribute(ENGINE, "Alarms"));
        CompositeData alarm = alarms.values().stream().map(CompositeData.class::cast).reduce((a, b) -> b)
                .orElseThrow();
        assertTrue(alarm.get("key").toString().matches("01 \\d{4}-.*Z"), alarm.toString());
        assertEquals("WITNESS sim:demo: the witness is away", alarm.get("value"));
        await().atMost(Duration.ofSeconds(5)).until(() -> platform.getAttribute(demo, "LastAlarm").toString()
                .endsWith(" WITNESS: the witness is away"));

        platform.setAttribute(demo, new javax.management.Attribute("IntervalMs", 20));
        await().atMost(Duration.ofSeconds(5)).until(() -> (Integer) platform.getAttribute(demo, "IntervalMs") == 20);

        platform.invoke(demo, "unprotect", new Object[0], new String[0]);
        await().atMost(Duration.ofSeconds(10)).until(() -> !platform.isRegistered(demo)
                && !backupServer.isRegistered(demo));
        assertEquals(Set.of(), platform.queryNames(name("io.romulus:type=Protection,*"), null));
    }

    /**
     * The engine's own CPU time on the backup (issue 19) follows the work: two domains side by side, one whose
     * checkpoints are empty, one whose every checkpoint carries about 3,000 pages (4,000 writes at random into 32 MiB).
     */
    @Test
    void theBackupsCpuTimePerCheckpointGrowsWithThePagesACheckpointCarries() throws Exception {
        DomainId idle = DomainId.parse("sim:idle");
        DomainId busy = DomainId.parse("sim:busy");
        primary.protect(new ProtectRequest(idle, PEER, 25, Map.of("memory", "16M", "dirty-rate", "0",
                "packet-rate", "0")));
        primary.protect(new ProtectRequest(busy, PEER, 25, Map.of("memory", "32M", "dirty-rate", "160000",
                "packet-rate", "0", "locality", "0")));
        // a second of checkpoints of both: the figures are medians over the last 5 s
        await().atMost(Duration.ofSeconds(40)).until(() -> cpu(backup, idle).checkpoints() >= 40
                && cpu(backup, busy).checkpoints() >= 40);

        EngineCpu empty = cpu(backup, idle);
        EngineCpu full = cpu(backup, busy);
        assertTrue(empty.perCheckpointNanos() > 0 && empty.perSecondNanos() > 0, "even an empty checkpoint is "
                + "received and committed: " + empty);
        assertTrue(full.perSecondNanos() > empty.perSecondNanos(), full + " against " + empty);
        // about 3,000 pages (12 MiB) staged and applied against none: 15 times the CPU time here, a gap far wider
        // than the noise of a busy machine
        assertTrue(full.perCheckpointNanos() > 4 * empty.perCheckpointNanos(), "the backup's CPU time per "
                + "checkpoint follows the pages: " + full + " with pages, " + empty + " without");
        ObjectName busyMBean = ProtectionMBeans.objectName(busy.toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> (Long) backupServer.getAttribute(busyMBean,
                "EngineCpuMicrosPerCheckpoint") > 4 * empty.perCheckpointNanos() / 1000);
        assertTrue(cpu(primary, busy).perCheckpointNanos() > 0, "the primary's, beside it: " + cpu(primary, busy));
    }

    private static EngineCpu cpu(Engine engine, DomainId domain) {
        return engine.status().stream().filter(s -> s.domain().equals(domain.toString()))
                .map(ProtectionStatus::engineCpu).findFirst().orElse(EngineCpu.UNKNOWN);
    }

    /** Every attribute is declared and read as an open type: a primitive, String, CompositeData or TabularData. */
    private static void assertOpenTypes(MBeanServer server, ObjectName n) throws Exception {
        for (MBeanAttributeInfo a : server.getMBeanInfo(n).getAttributes()) {
            assertTrue(isOpen(a.getType()), n + " " + a.getName() + " is a " + a.getType());
            Object value = server.getAttribute(n, a.getName());
            Class<?> c = value.getClass().isArray() ? value.getClass().getComponentType() : value.getClass();
            assertTrue(value instanceof CompositeData || value instanceof TabularData
                    || OpenType.ALLOWED_CLASSNAMES_LIST.contains(c.getName()), n + " " + a.getName() + " = " + value);
        }
    }

    private static boolean isOpen(String type) {
        return List.of("int", "long", "double", "boolean", "[Ljava.lang.String;").contains(type)
                || OpenType.ALLOWED_CLASSNAMES_LIST.contains(type);
    }
}
