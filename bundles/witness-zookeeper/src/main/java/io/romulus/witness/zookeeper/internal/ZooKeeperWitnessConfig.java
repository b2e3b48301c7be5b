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

    @AttributeDefinition(name = "Connect string", description = "The ZooKeeper ensemble, host:port[,host:port...]. "
            + "Required. Use three servers on hosts other than the Romulus nodes")
    String connect_string();

    @AttributeDefinition(name = "Namespace", description = "Znode under which the leases live "
            + "(NAMESPACE/leases/DOMAIN); one per cluster: nodes that protect the same domains use the same one",
            required = false)
    String namespace() default ZooKeeperWitnessSettings.DEFAULT_NAMESPACE;

    @AttributeDefinition(name = "Session timeout (ms)", description = "How long ZooKeeper keeps a silent node's "
            + "leases, ms, and so the least time a failover takes: about the detector's 150 ms plus this plus up to "
            + "one ZooKeeper tick. ZooKeeper clamps it to 2-20 tickTimes (4000 at its default 2000 ms tick). Shorter "
            + "turns a primary's brief loss of ZooKeeper (a GC pause, a leader election, a saturated link) into a "
            + "stall of its output",
            min = "1")
    int session_timeout_ms() default ZooKeeperWitnessSettings.DEFAULT_SESSION_TIMEOUT_MS;

    @AttributeDefinition(name = "Connection timeout (ms)", description = "Wait for a connection to one ZooKeeper "
            + "server before trying the next, ms", min = "1")
    int connection_timeout_ms() default ZooKeeperWitnessSettings.DEFAULT_CONNECTION_TIMEOUT_MS;

    @AttributeDefinition(name = "Operation timeout (ms)", description = "Longest wait of one witness call (take, "
            + "confirm, look up or give up a lease), ms; no answer in time counts as no", min = "1")
    long operation_timeout_ms() default ZooKeeperWitnessSettings.DEFAULT_OPERATION_TIMEOUT_MS;

    @AttributeDefinition(name = "ZooKeeper user", description = "The ZooKeeper user the witness authenticates as "
            + "(digest scheme). With it, the namespace and every lease are writable by that user only and readable by "
            + "anyone; without it anyone who can reach ZooKeeper can delete or take a lease, and the witness warns at "
            + "every start. The same on every node of a cluster", required = false)
    String auth_user() default "";

    @AttributeDefinition(name = "ZooKeeper password file", description = "File whose first line is that user's "
            + "password (mode 600; a relative path starts from Karaf's home). Not in the cfg itself, where "
            + "config:list, Hawtio and JMX would show it. Set both auth keys or neither",
            required = false)
    String auth_password_file() default "";
}
