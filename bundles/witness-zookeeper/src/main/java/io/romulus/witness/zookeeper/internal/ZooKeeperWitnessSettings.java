package io.romulus.witness.zookeeper.internal;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The ZooKeeper witness's settings, usable without OSGi.
 *
 * @param connectString       the ensemble, {@code host:port[,host:port...]}
 * @param namespace           the znode (without a leading slash) under which the leases live
 * @param sessionTimeoutMs    the ZooKeeper session timeout asked for: how long a silent node keeps its leases
 * @param connectionTimeoutMs how long to wait for a connection to a server
 * @param operationTimeoutMs  the longest time one witness call waits for ZooKeeper
 * @param credentials         the digest identity the session authenticates with and the znodes are protected for;
 *                            empty: none, and the leases are open to anyone who can reach ZooKeeper
 */
public record ZooKeeperWitnessSettings(String connectString, String namespace, int sessionTimeoutMs,
        int connectionTimeoutMs, long operationTimeoutMs, Optional<DigestCredentials> credentials) {

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
        if (credentials == null) {
            throw new IllegalArgumentException("credentials must not be null (Optional.empty() for none)");
        }
    }

    /** The defaults, for the given ensemble: no authentication. */
    public static ZooKeeperWitnessSettings defaults(String connectString) {
        return new ZooKeeperWitnessSettings(connectString, DEFAULT_NAMESPACE, DEFAULT_SESSION_TIMEOUT_MS,
                DEFAULT_CONNECTION_TIMEOUT_MS, DEFAULT_OPERATION_TIMEOUT_MS, Optional.empty());
    }

    /**
     * From the OSGi configuration; a relative {@code auth.password.file} is taken from Karaf's home (system property
     * {@code karaf.base}, else the working directory).
     */
    public static ZooKeeperWitnessSettings of(ZooKeeperWitnessConfig c) {
        return of(c, Path.of(System.getProperty("karaf.base", "")));
    }

    static ZooKeeperWitnessSettings of(ZooKeeperWitnessConfig c, Path base) {
        String user = c.auth_user().strip();
        String file = c.auth_password_file().strip();
        if (user.isEmpty() != file.isEmpty()) {
            throw new IllegalArgumentException("auth.user and auth.password.file go together: set both (digest "
                    + "authentication and ACLs) or neither (none)");
        }
        Optional<DigestCredentials> credentials = user.isEmpty() ? Optional.empty()
                : Optional.of(DigestCredentials.read(user, file, base));
        return new ZooKeeperWitnessSettings(c.connect_string(), c.namespace(), c.session_timeout_ms(),
                c.connection_timeout_ms(), c.operation_timeout_ms(), credentials);
    }

    /** A copy with other timeouts (tests use short ones). */
    public ZooKeeperWitnessSettings withTimeouts(int sessionMs, int connectionMs, long operationMs) {
        return new ZooKeeperWitnessSettings(connectString, namespace, sessionMs, connectionMs, operationMs,
                credentials);
    }

    /** A copy under another namespace. */
    public ZooKeeperWitnessSettings withNamespace(String otherNamespace) {
        return new ZooKeeperWitnessSettings(connectString, otherNamespace, sessionTimeoutMs, connectionTimeoutMs,
                operationTimeoutMs, credentials);
    }

    /** A copy that authenticates as digest user {@code user} with {@code password}. */
    public ZooKeeperWitnessSettings withCredentials(String user, String password) {
        return new ZooKeeperWitnessSettings(connectString, namespace, sessionTimeoutMs, connectionTimeoutMs,
                operationTimeoutMs, Optional.of(new DigestCredentials(user, password)));
    }
}
