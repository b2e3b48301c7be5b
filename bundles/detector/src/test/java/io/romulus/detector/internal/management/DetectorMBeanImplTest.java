package io.romulus.detector.internal.management;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import javax.management.MBeanServer;
import javax.management.MBeanServerFactory;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.openmbean.TabularData;

import io.romulus.api.detector.FailureDetector;
import io.romulus.detector.internal.DetectorSettings;
import io.romulus.detector.internal.UdpFailureDetector;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The MBean over a real detector on loopback, read as a JMX client would read it. */
@Timeout(60)
class DetectorMBeanImplTest {

    private static final FailureDetector.Listener QUIET = new FailureDetector.Listener() {
        @Override
        public void suspected(String peerId, double phi) {
        }

        @Override
        public void recovered(String peerId) {
        }
    };

    private final List<AutoCloseable> resources = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
    }

    private UdpFailureDetector detector(String node) throws Exception {
        UdpFailureDetector d = new UdpFailureDetector(DetectorSettings.defaults(node).withListen("127.0.0.1", 0));
        resources.add(d);
        return d;
    }

    private static CompositeData row(TabularData peers, String peer) {
        for (Object o : peers.values()) {
            CompositeData row = (CompositeData) o;
            if (peer.equals(row.get("peer"))) {
                return row;
            }
        }
        throw new AssertionError("no row for " + peer + " in " + peers);
    }

    @Test
    void attributesAndOneRowPerMonitoredPeerOverJmx() throws Exception {
        UdpFailureDetector a = detector("node-a");
        UdpFailureDetector b = detector("node-b");
        a.monitor("node-b", b.localAddress(), QUIET);
        a.monitor("node-c", null, QUIET);
        b.monitor("node-a", a.localAddress(), QUIET);

        MBeanServer server = MBeanServerFactory.newMBeanServer();
        ObjectName name = new ObjectName("io.romulus:type=Detector,name=detector");
        server.registerMBean(new DetectorMBeanImpl(a), name);
        assertEquals("node-a", server.getAttribute(name, "NodeId"));
        assertEquals("127.0.0.1:" + a.localAddress().getPort(), server.getAttribute(name, "ListenAddress"));
        assertEquals(8.0, server.getAttribute(name, "Threshold"));
        assertEquals(10L, server.getAttribute(name, "IntervalMs"));
        assertEquals(false, server.getAttribute(name, "Authenticated"));
        assertEquals(0L, server.getAttribute(name, "RejectedHeartbeats"));

        await().atMost(Duration.ofSeconds(5)).until(() -> {
            TabularData peers = (TabularData) server.invoke(name, "peers", null, null);
            return (Long) row(peers, "node-b").get("heartbeats") >= 5
                    && (Boolean) row(peers, "node-c").get("suspected");
        });
        TabularData peers = (TabularData) server.invoke(name, "peers", null, null);
        assertEquals(2, peers.size());

        // the attribute a JMX console shows: one key and one value of words per peer, no nested items
        TabularData lines = (TabularData) server.getAttribute(name, "Peers");
        assertEquals(2, lines.size());
        java.util.Map<String, String> byKey = new java.util.TreeMap<>();
        for (Object o : lines.values()) {
            CompositeData line = (CompositeData) o;
            assertEquals(java.util.Set.of("key", "value"), line.getCompositeType().keySet());
            byKey.put(((String) line.get("key")).replaceAll(" #\\d+$", ""), (String) line.get("value"));
        }
        assertEquals(java.util.Set.of("node-b", "node-c"), byKey.keySet(), byKey.toString());
        assertTrue(byKey.get("node-b").matches("127\\.0\\.0\\.1:\\d+, phi [0-9.]+, not suspected, \\d+ heartbeats, "
                + "silent \\d+ ms, inter-arrival mean [0-9.]+ ms sd [0-9.]+ ms, suspected 0 times"), byKey.toString());
        assertTrue(byKey.get("node-c").startsWith("address not learned yet (learned), phi "), byKey.toString());
        assertTrue(byKey.get("node-c").contains(", SUSPECTED, 0 heartbeats"), byKey.toString());

        CompositeData heard = row(peers, "node-b");
        InetSocketAddress bAt = b.localAddress();
        assertEquals("127.0.0.1:" + bAt.getPort(), heard.get("address"));
        assertFalse((Boolean) heard.get("learned"));
        assertFalse((Boolean) heard.get("suspected"));
        assertTrue((Double) heard.get("phi") < 8, heard.toString());
        assertTrue((Double) heard.get("silenceMs") < 1000, heard.toString());
        assertTrue((Double) heard.get("meanIntervalMs") > 1, heard.toString());
        assertTrue((Double) heard.get("stdDevMs") >= 0, heard.toString());
        assertEquals(0L, heard.get("suspicions"));
        assertTrue((Long) heard.get("lastHeartbeatMillis") > System.currentTimeMillis() - 5000, heard.toString());

        CompositeData silent = row(peers, "node-c");
        assertEquals("", silent.get("address"));
        assertTrue((Boolean) silent.get("learned"));
        assertTrue((Double) silent.get("phi") >= 8, silent.toString());
        assertEquals(0L, silent.get("heartbeats"));
        assertEquals(1L, silent.get("suspicions"));
        assertEquals(0L, silent.get("lastHeartbeatMillis"));
    }

    @Test
    void aPeerWatchedTwiceHasTwoRows() throws Exception {
        UdpFailureDetector a = detector("node-a");
        a.monitor("node-b", null, QUIET);
        a.monitor("node-b", null, QUIET);
        DetectorMBeanImpl bean = new DetectorMBeanImpl(a);
        assertEquals(2, bean.peers().size());
        assertEquals(2, bean.getPeers().size(), "one line per monitor");
    }
}
