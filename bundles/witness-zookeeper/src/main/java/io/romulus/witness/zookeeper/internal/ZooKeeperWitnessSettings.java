package io.romulus.witness.zookeeper.internal;

/**
 * The ZooKeeper witness's settings, usable without OSGi.
 *
 * @param connectString       the ensemble, {@code host:port[,host:port...]}
 * @param namespace           the znode (without a leading slash) under which the leases live
 * @param sessionTimeoutMs    the ZooKeeper session timeout asked for: how long a silent node keeps its leases
 * @param connectionTimeoutMs how long to wait for a connection to a server
 * @param operationTimeoutMs  the longest time one witness call waits for ZooKeeper
 */
public record ZooKeeperWitnessSettings(String connectString, String namespace, int sessionTimeoutMs,
        int connectionTimeoutMs, long operationTimeoutMs) {

    public static final String DEFAULT_NAMESPACE = "romulus";
    public static final int DEFAULT_SESSION_TIMEOUT_MS = 4000;
    public static final int DEFAULT_CONNECTION_TIMEOUT_MS = 2000;
    public static final long DEFAULT_OPERATION_TIMEOUT_MS = 1000;

    public ZooKeeperWitnessSettings {
        if (connectString == null || connectString.isBlank()) {
            throw new IllegalArgumentException("connect.string must not be empty: set it to host:port[,host:port...] "
                    + "of the ZooKeeper ensemble");
        }
        connectString = connectString.strip();
        if (connectString.chars().anyMatch(Character::isWhitespace)) {
            throw new IllegalArgumentException("connect.string must not contain spaces: " + connectString);
        }
        if (namespace == null || namespace.isBlank()) {
            throw new IllegalArgumentException("namespace must not be empty");
        }
        namespace = namespace.strip();
        while (namespace.startsWith("/")) {
            namespace = namespace.substring(1);
        }
        while (namespace.endsWith("/")) {
            namespace = namespace.substring(0, namespace.length() - 1);
        }
        if (!namespace.matches("[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
                || ("/" + namespace + "/").matches(".*/\\.{1,2}/.*")) {
            throw new IllegalArgumentException("namespace must be a znode path of letters, digits and . _ - "
                    + "(for example romulus or romulus/site-a), not " + namespace);
        }
        if (sessionTimeoutMs < 1) {
            throw new IllegalArgumentException("session.timeout.ms must be at least 1, not " + sessionTimeoutMs);
        }
        if (connectionTimeoutMs < 1) {
            throw new IllegalArgumentException("connection.timeout.ms must be at least 1, not "
                    + connectionTimeoutMs);
        }
        if (operationTimeoutMs < 1) {
            throw new IllegalArgumentException("operation.timeout.ms must be at least 1, not " + operationTimeoutMs);
        }
    }

    /** The defaults, for the given ensemble. */
    public static ZooKeeperWitnessSettings defaults(String connectString) {
        return new ZooKeeperWitnessSettings(connectString, DEFAULT_NAMESPACE, DEFAULT_SESSION_TIMEOUT_MS,
                DEFAULT_CONNECTION_TIMEOUT_MS, DEFAULT_OPERATION_TIMEOUT_MS);
    }

    /** From the OSGi configuration. */
    public static ZooKeeperWitnessSettings of(ZooKeeperWitnessConfig c) {
        return new ZooKeeperWitnessSettings(c.connect_string(), c.namespace(), c.session_timeout_ms(),
                c.connection_timeout_ms(), c.operation_timeout_ms());
    }

    /** A copy with other timeouts (tests use short ones). */
    public ZooKeeperWitnessSettings withTimeouts(int sessionMs, int connectionMs, long operationMs) {
        return new ZooKeeperWitnessSettings(connectString, namespace, sessionMs, connectionMs, operationMs);
    }

    /** A copy under another namespace. */
    public ZooKeeperWitnessSettings withNamespace(String otherNamespace) {
        return new ZooKeeperWitnessSettings(connectString, otherNamespace, sessionTimeoutMs, connectionTimeoutMs,
                operationTimeoutMs);
    }
}
