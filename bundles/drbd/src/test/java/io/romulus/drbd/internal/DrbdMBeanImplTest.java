package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import javax.management.MBeanServer;
import javax.management.MBeanServerFactory;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.openmbean.TabularData;

import io.romulus.drbd.internal.management.DrbdMBeanImpl;

import org.junit.jupiter.api.Test;

/**
 * The DRBD coordinator's MBean read as a JMX client reads it: over a replicator that watches a scripted
 * {@code drbdsetup events2} stream (the guide's Primary of a pair, then a second resource resyncing, both real
 * output, see {@link DrbdStateTest}), and over the real drbdsetup of this host, which has no kernel module.
 */
class DrbdMBeanImplTest {

    private static final ObjectName NAME = name();

    private static ObjectName name() {
        try {
            return new ObjectName("io.romulus:type=Drbd,name=drbd");
        } catch (javax.management.MalformedObjectNameException e) {
            throw new AssertionError(e);
        }
    }

    private static MBeanServer serve(DrbdDiskReplicator replicator) throws Exception {
        MBeanServer server = MBeanServerFactory.newMBeanServer();
        server.registerMBean(new DrbdMBeanImpl(replicator), NAME);
        return server;
    }

    /** The rows by resource name, each as item name to value. */
    private static Map<String, Map<String, Object>> rows(TabularData table) {
        Map<String, Map<String, Object>> rows = new TreeMap<>();
        for (Object o : table.values()) {
            CompositeData row = (CompositeData) o;
            Map<String, Object> items = new TreeMap<>();
            for (String item : row.getCompositeType().keySet()) {
                items.put(item, row.get(item));
            }
            rows.put((String) row.get("name"), items);
        }
        return rows;
    }

    @Test
    void oneRowPerResourceFromTheWatchedState() throws Exception {
        String primary = Samples.text("doc-events2-statistics-now-primary.txt");
        List<String> stream = new ArrayList<>(Samples.lines("doc-events2-statistics-now-primary.txt"));
        stream.remove("exists -");
        stream.addAll(Samples.lines("drbdtop-events2-timestamps-syncsource.txt"));
        stream.add("exists -");
        stream.add("change peer-device name:test0 conn-name:peer volume:0 replication:SyncSource done:42.50");
        ScriptedRunner runner = new ScriptedRunner().ok("drbdsetup events2 --now --statistics", primary)
                .streams("drbdsetup events2 --timestamps --statistics", stream);
        DrbdDiskReplicator replicator = new DrbdDiskReplicator(DrbdSettings.defaults().withAllowProtocolC(true),
                runner, true);
        try {
            MBeanServer server = serve(replicator);
            assertEquals(true, server.getAttribute(NAME, "Available"));
            assertEquals("available", server.getAttribute(NAME, "Reason"));
            assertEquals(true, server.getAttribute(NAME, "AllowProtocolCWithoutBarriers"));
            Map<String, Map<String, Object>> rows = rows((TabularData) server.invoke(NAME, "resources", null,
                    null));
            assertEquals(Map.of("name", "r0", "role", "Primary", "connections", "peer: Connected/Secondary",
                    "disks", "0: UpToDate", "resync", ""), rows.get("r0"));
            assertEquals(Map.of("name", "test0", "role", "Primary", "connections", "peer: Connected/Secondary",
                    "disks", "0: UpToDate", "resync", "peer/0: 42.50%"), rows.get("test0"));
            assertEquals(2, rows.size());
            // what a JMX console shows: one key and one value of words per resource
            Map<String, Map<String, Object>> lines = new java.util.TreeMap<>();
            for (Object o : ((TabularData) server.getAttribute(NAME, "Resources")).values()) {
                javax.management.openmbean.CompositeData line = (javax.management.openmbean.CompositeData) o;
                assertEquals(java.util.Set.of("key", "value"), line.getCompositeType().keySet());
                lines.put((String) line.get("key"), Map.of("value", line.get("value")));
            }
            assertEquals(Map.of("value", "role Primary; connections peer: Connected/Secondary; disks 0: UpToDate; "
                    + "resyncs none"), lines.get("r0"));
            assertEquals(Map.of("value", "role Primary; connections peer: Connected/Secondary; disks 0: UpToDate; "
                    + "resyncs peer/0: 42.50%"), lines.get("test0"));
        } finally {
            replicator.deactivate();
        }
    }

    @Test
    void withoutAWatchedStateThereIsNoRow() throws Exception {
        ScriptedRunner runner = new ScriptedRunner().ok("drbdsetup events2 --now --statistics",
                Samples.text("doc-events2-statistics-now-primary.txt"));
        MBeanServer server = serve(new DrbdDiskReplicator(DrbdSettings.defaults(), runner));
        assertEquals(true, server.getAttribute(NAME, "Available"));
        assertEquals(false, server.getAttribute(NAME, "AllowProtocolCWithoutBarriers"));
        assertTrue(((TabularData) server.getAttribute(NAME, "Resources")).isEmpty());
    }

    @Test
    void withoutTheKernelModuleItSaysWhy() throws Exception {
        DrbdDiskReplicator replicator = new DrbdDiskReplicator(DrbdSettings.defaults(), new ProcessCommandRunner(),
                true);
        try {
            MBeanServer server = serve(replicator);
            if (Files.exists(Path.of("/proc/drbd"))) {
                assertEquals(true, server.getAttribute(NAME, "Available"));
                assertEquals("available", server.getAttribute(NAME, "Reason"));
                return;
            }
            assertEquals(false, server.getAttribute(NAME, "Available"));
            String reason = (String) server.getAttribute(NAME, "Reason");
            assertTrue(reason.startsWith("DRBD kernel module not loaded (/proc/drbd missing): "), reason);
            assertTrue(((TabularData) server.getAttribute(NAME, "Resources")).isEmpty());
            assertFalse((Boolean) server.getAttribute(NAME, "AllowProtocolCWithoutBarriers"));
        } finally {
            replicator.deactivate();
        }
    }
}
