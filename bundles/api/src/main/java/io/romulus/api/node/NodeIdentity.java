package io.romulus.api.node;

import java.io.IOException;
import java.util.Dictionary;

import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * This node's name, configured once for the whole node: {@value #KEY} in the configuration {@value #PID}
 * ({@code etc/io.romulus.node.cfg}); empty or missing means the host name. The engine (HELLO records, witness
 * leases, status), the checkpoint transport (HELLO, challenges) and the failure detector (heartbeats) all use it, so
 * they always agree.
 *
 * <p>Before there was one, each component had its own {@value #KEY} ({@code io.romulus.engine},
 * {@code io.romulus.transport.mina}, {@code io.romulus.detector}), and they had to be kept equal by hand. For one
 * release such an old key is still accepted, with a deprecation warning: it names the node while
 * {@value #PID} does not; once {@value #PID} names it, the old key is ignored.
 */
public final class NodeIdentity {

    /** The node's configuration PID. */
    public static final String PID = "io.romulus.node";

    /** The key of the node's name, in {@value #PID} (and, deprecated, in each component's own PID). */
    public static final String KEY = "node.id";

    /** The metatype description of a component's own, deprecated {@value #KEY}. */
    public static final String DEPRECATED_KEY_DESCRIPTION = "Deprecated: set node.id in io.romulus.node "
            + "(etc/io.romulus.node.cfg), the node's one name for every component. Read for one more release when "
            + "that is empty";

    private NodeIdentity() {
    }

    /**
     * What the configuration says.
     *
     * @param nodeId  the configured node id, stripped; empty means the host name
     * @param warning a deprecation warning for the log; empty when there is none
     */
    public record Resolved(String nodeId, String warning) {
    }

    /**
     * Resolves the node id from the node's value and a component's own (deprecated) value.
     *
     * @param node      {@value #KEY} in {@value #PID}, or null
     * @param legacyPid the component's own PID
     * @param legacy    {@value #KEY} in {@code legacyPid}, or null
     */
    public static Resolved resolve(Object node, String legacyPid, Object legacy) {
        String id = text(node);
        String old = text(legacy);
        if (old.isEmpty()) {
            return new Resolved(id, "");
        }
        String where = " in " + legacyPid + " (etc/" + legacyPid + ".cfg) is deprecated";
        if (id.isEmpty()) {
            return new Resolved(old, KEY + " = " + old + where + " and will be ignored by the next release: set it in"
                    + " etc/" + PID + ".cfg, the node's one name for every component, and remove it there");
        }
        if (id.equals(old)) {
            return new Resolved(id, KEY + where + ": etc/" + PID + ".cfg names this node (" + id
                    + ") for every component; remove it there");
        }
        return new Resolved(id, KEY + " = " + old + where + " and ignored: this node is " + id + " (" + KEY + " in "
                + "etc/" + PID + ".cfg, the node's one name for every component); remove it there");
    }

    /** Resolves the node id from what Configuration Admin holds for {@value #PID} and {@code legacyPid}. */
    public static Resolved read(ConfigurationAdmin admin, String legacyPid) throws IOException {
        return resolve(value(admin, PID), legacyPid, value(admin, legacyPid));
    }

    private static Object value(ConfigurationAdmin admin, String pid) throws IOException {
        Configuration[] found;
        try {
            found = admin.listConfigurations("(service.pid=" + pid + ")");
        } catch (InvalidSyntaxException e) {
            throw new IllegalArgumentException("not a PID: " + pid, e);
        }
        if (found == null) {
            return null;
        }
        for (Configuration c : found) {
            Dictionary<String, Object> properties = c.getProperties();
            if (properties != null && properties.get(KEY) != null) {
                return properties.get(KEY);
            }
        }
        return null;
    }

    private static String text(Object value) {
        return value == null ? "" : value.toString().strip();
    }
}
