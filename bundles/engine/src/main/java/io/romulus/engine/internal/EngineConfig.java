package io.romulus.engine.internal;

import io.romulus.api.node.NodeIdentity;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.osgi.service.metatype.annotations.Option;

/** Configuration PID {@code io.romulus.engine}. */
@ObjectClassDefinition(name = "Romulus replication engine", description = "Epoch loop and committer")
public @interface EngineConfig {

    /** Deprecated: the node's one name is node.id in io.romulus.node; this one is read when that is empty. */
    @AttributeDefinition(name = "Node id (deprecated)", description = NodeIdentity.DEPRECATED_KEY_DESCRIPTION)
    String node_id() default "";

    @AttributeDefinition(name = "Epoch interval (ms)", description = "Default time a protected domain runs between "
            + "checkpoints; 25 ms is 40 checkpoints a second", min = "1")
    int interval_ms() default 25;

    @AttributeDefinition(name = "Smallest interval (ms)", min = "1")
    int interval_min_ms() default 1;

    @AttributeDefinition(name = "Largest interval (ms)", min = "1")
    int interval_max_ms() default 10_000;

    @AttributeDefinition(name = "Interval mode", description = "adaptive: the epoch lengthens when the backup or the "
            + "link cannot keep up or when pauses take over 30% of it (3 epochs in a row), and shortens when output waits, within the "
            + "adaptive bounds (which always include the set interval); fixed: always the set interval", options = {
                @Option(label = "adaptive", value = "adaptive"), @Option(label = "fixed", value = "fixed")})
    String interval_mode() default "adaptive";

    @AttributeDefinition(name = "Shortest adaptive interval (ms)", min = "1")
    int interval_adaptive_min_ms() default 10;

    @AttributeDefinition(name = "Longest adaptive interval (ms)", min = "1")
    int interval_adaptive_max_ms() default 200;

    @AttributeDefinition(name = "Epoch history", description = "Epochs of statistics kept per domain", min = "1")
    int history_size() default 1024;

    @AttributeDefinition(name = "Link timeout (ms)", description = "How long a primary holds output after losing its "
            + "backup before it releases it and runs unprotected", min = "0")
    long link_timeout_ms() default 3000;

    @AttributeDefinition(name = "Reconnect delay (ms)", min = "1")
    long reconnect_delay_ms() default 250;

    @AttributeDefinition(name = "Checkpoints in flight", description = "Checkpoints sent and not yet acknowledged "
            + "before the epoch loop waits (the domain keeps running)", min = "1")
    int max_inflight_epochs() default 4;

    @AttributeDefinition(name = "Initial copy batch", description = "Pages per batch of the initial full copy",
            min = "1")
    int initial_copy_batch() default 256;

    @AttributeDefinition(name = "Failover mode", description = "What a backup does when the failure detector "
            + "convicts its primary: automatic activates the replica (with a witness only once it holds the domain's "
            + "lease; without one at once, which risks split brain if the primary is only cut off); manual raises an "
            + "alarm and waits for romulus:failover", options = {
                @Option(label = "automatic", value = "automatic"), @Option(label = "manual", value = "manual")})
    String failover_mode() default "automatic";

    @AttributeDefinition(name = "Backup heartbeat port", description = "UDP port of a backup's failure detector "
            + "when romulus:protect names none", min = "1", max = "65535")
    int peer_heartbeat_port() default 7490;

    @AttributeDefinition(name = "Protect back after failover", description = "After activating a replica, protect "
            + "the domain back towards the old primary's node: it runs unprotected until that node answers as its "
            + "new backup, then a full copy makes it PROTECTED")
    boolean failover_reprotect() default true;

    @AttributeDefinition(name = "Grace after a primary's update", description = "Milliseconds a backup holds back "
            + "automatic failover after its primary stopped the stream for an update of its own (a bundle update or "
            + "refresh of its engine or transport); a primary that stays silent longer is judged as usual")
    long handover_grace_ms() default EngineSettings.DEFAULT_HANDOVER_GRACE_MS;
}
