package io.romulus.witness.zookeeper.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * Configuration PID {@code io.romulus.witness.zookeeper}: the ZooKeeper ensemble that decides which node may run a
 * protected domain. Without this configuration there is no witness service at all.
 */
@ObjectClassDefinition(name = "Romulus ZooKeeper witness",
        description = "A lease per protected domain, as an ephemeral znode held by the ZooKeeper session of the node "
                + "that runs the domain; a backup activates only once it has taken the lease")
public @interface ZooKeeperWitnessConfig {

    @AttributeDefinition(name = "Connect string", description = "The ZooKeeper ensemble, host:port[,host:port...] "
            + "(use three servers in production)")
    String connect_string();

    @AttributeDefinition(name = "Namespace", description = "The znode under which Romulus keeps its leases "
            + "(<namespace>/leases/<domain>); nodes that protect the same domains must use the same namespace",
            required = false)
    String namespace() default ZooKeeperWitnessSettings.DEFAULT_NAMESPACE;

    @AttributeDefinition(name = "Session timeout (ms)", description = "How long a silent node keeps its leases: a "
            + "backup can take over a frozen primary's domain only after this; ZooKeeper clamps it to 2-20 ticks",
            min = "1")
    int session_timeout_ms() default ZooKeeperWitnessSettings.DEFAULT_SESSION_TIMEOUT_MS;

    @AttributeDefinition(name = "Connection timeout (ms)", description = "How long to wait for a connection to a "
            + "ZooKeeper server before trying the next", min = "1")
    int connection_timeout_ms() default ZooKeeperWitnessSettings.DEFAULT_CONNECTION_TIMEOUT_MS;

    @AttributeDefinition(name = "Operation timeout (ms)", description = "Longest time one witness call (take, "
            + "confirm, look up, give up a lease) waits for ZooKeeper before it fails", min = "1")
    long operation_timeout_ms() default ZooKeeperWitnessSettings.DEFAULT_OPERATION_TIMEOUT_MS;

    @AttributeDefinition(name = "ZooKeeper user", description = "The user of ZooKeeper's digest scheme the witness "
            + "authenticates as, the same on every node; its znodes are then writable by this user only and "
            + "readable by anyone. Empty: no authentication, and anyone who reaches ZooKeeper can delete or take a "
            + "lease", required = false)
    String auth_user() default "";

    @AttributeDefinition(name = "ZooKeeper password file", description = "The file whose first line is the password "
            + "of the ZooKeeper user (mode 600; relative paths are from Karaf's home); required with auth.user",
            required = false)
    String auth_password_file() default "";
}
