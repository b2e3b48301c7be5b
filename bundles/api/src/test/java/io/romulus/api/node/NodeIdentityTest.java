package io.romulus.api.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

class NodeIdentityTest {

    private static final String ENGINE = "io.romulus.engine";

    @Test
    void theNodeIdOfTheNodeWithoutAWarning() {
        assertEquals(new NodeIdentity.Resolved("node-a", ""), NodeIdentity.resolve(" node-a ", ENGINE, null));
        assertEquals(new NodeIdentity.Resolved("node-a", ""), NodeIdentity.resolve("node-a", ENGINE, ""));
    }

    @Test
    void nothingSetIsEmptyForTheHostName() {
        assertEquals(new NodeIdentity.Resolved("", ""), NodeIdentity.resolve(null, ENGINE, null));
        assertEquals(new NodeIdentity.Resolved("", ""), NodeIdentity.resolve("", ENGINE, " "));
    }

    @Test
    void anOldKeyAloneStillNamesTheNodeWithADeprecationWarning() {
        NodeIdentity.Resolved r = NodeIdentity.resolve("", ENGINE, "node-old");
        assertEquals("node-old", r.nodeId());
        assertTrue(r.warning().contains("deprecated") && r.warning().contains("etc/io.romulus.engine.cfg")
                && r.warning().contains("etc/io.romulus.node.cfg"), r.warning());
    }

    @Test
    void anOldKeyBesideTheNodesIsIgnoredWithAWarning() {
        NodeIdentity.Resolved same = NodeIdentity.resolve("node-a", ENGINE, "node-a");
        assertEquals("node-a", same.nodeId());
        assertTrue(same.warning().contains("deprecated"), same.warning());
        NodeIdentity.Resolved differs = NodeIdentity.resolve("node-a", ENGINE, "node-b");
        assertEquals("node-a", differs.nodeId());
        assertTrue(differs.warning().contains("node-b") && differs.warning().contains("ignored"), differs.warning());
    }

    /** Configuration Admin holding these configurations (PID to node.id), as far as NodeIdentity asks it. */
    private static ConfigurationAdmin admin(Map<String, String> nodeIds) {
        return (ConfigurationAdmin) Proxy.newProxyInstance(NodeIdentityTest.class.getClassLoader(),
                new Class<?>[] {ConfigurationAdmin.class}, (proxy, method, args) -> {
                    if (!method.getName().equals("listConfigurations")) {
                        throw new UnsupportedOperationException(method.getName());
                    }
                    String filter = (String) args[0];
                    String pid = filter.substring("(service.pid=".length(), filter.length() - 1);
                    if (!nodeIds.containsKey(pid)) {
                        return null;
                    }
                    @SuppressWarnings("JdkObsolete") // Configuration's properties are a Dictionary
                    Dictionary<String, Object> properties = new Hashtable<>();
                    properties.put("service.pid", pid);
                    properties.put(NodeIdentity.KEY, nodeIds.get(pid));
                    return new Configuration[] {(Configuration) Proxy.newProxyInstance(
                            NodeIdentityTest.class.getClassLoader(), new Class<?>[] {Configuration.class},
                            (c, m, a) -> m.getName().equals("getProperties") ? properties : null)};
                });
    }

    @Test
    void readsTheNodesPidAndTheComponentsOwnFromConfigurationAdmin() throws Exception {
        assertEquals(new NodeIdentity.Resolved("node-a", ""),
                NodeIdentity.read(admin(Map.of(NodeIdentity.PID, "node-a")), ENGINE));
        assertEquals(new NodeIdentity.Resolved("", ""), NodeIdentity.read(admin(Map.of()), ENGINE));
        NodeIdentity.Resolved old = NodeIdentity.read(admin(Map.of(NodeIdentity.PID, "", ENGINE, "node-old")), ENGINE);
        assertEquals("node-old", old.nodeId(), "an installation from before io.romulus.node keeps its name");
        assertTrue(old.warning().contains("deprecated"), old.warning());
        NodeIdentity.Resolved both = NodeIdentity.read(admin(Map.of(NodeIdentity.PID, "node-a",
                "io.romulus.detector", "node-b")), "io.romulus.detector");
        assertEquals("node-a", both.nodeId());
        assertTrue(both.warning().contains("io.romulus.detector"), both.warning());
    }
}
