package io.romulus.api.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

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
}
