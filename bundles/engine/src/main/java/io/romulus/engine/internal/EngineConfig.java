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

    @AttributeDefinition(name = "Epoch interval (ms)", description = "Default epoch interval, ms: from the start of one "
            + "checkpoint's pause to the next, the pause included (25 ms is 40 checkpoints a second, the Remus "
            + "default); the domain runs at least a quarter of it after each pause. romulus:protect --interval "
            + "overrides it per domain", min = "1")
    int interval_ms() default 25;

    @AttributeDefinition(name = "Smallest interval (ms)", description = "Smallest interval an operator may set, ms",
            min = "1")
    int interval_min_ms() default 1;

    @AttributeDefinition(name = "Largest interval (ms)", description = "Largest interval an operator may set, ms",
            min = "1")
    int interval_max_ms() default 10_000;

    @AttributeDefinition(name = "Interval mode", description = "adaptive: the epoch lengthens when the backup or the "
            + "link cannot keep up or when pauses take over 30% of it (3 epochs in a row), and shortens when output "
            + "waits, within the adaptive bounds (which always include the set interval); the current interval and why "
            + "are in romulus:status. fixed: always the set interval", options = {
                @Option(label = "adaptive", value = "adaptive"), @Option(label = "fixed", value = "fixed")})
    String interval_mode() default "adaptive";

    @AttributeDefinition(name = "Shortest adaptive interval (ms)", description = "The shortest epoch interval the "
            + "adaptive mode may choose, ms (raised to the set interval if that is shorter)", min = "1")
    int interval_adaptive_min_ms() default 10;

    @AttributeDefinition(name = "Longest adaptive interval (ms)", description = "The longest epoch interval the "
            + "adaptive mode may choose, ms (lowered to the set interval if that is longer)", min = "1")
    int interval_adaptive_max_ms() default 200;

    @AttributeDefinition(name = "Epoch history", description = "Epochs of statistics kept per protected domain "
            + "(romulus:epochs, the Engine MBean)", min = "1")
    int history_size() default 1024;

    @AttributeDefinition(name = "Link timeout (ms)", description = "How long, in ms, a primary keeps its output held "
            + "after losing its backup or the link before it releases it and runs UNPROTECTED (an ALARM). A backup "
            + "that has acknowledged nothing for a third of this (at least 1 s) counts as lost, unless its heartbeats "
            + "still arrive (a stream recovering from loss) or it has not acknowledged its first checkpoint yet: then "
            + "the whole timeout", min = "0")
    long link_timeout_ms() default 3000;

    @AttributeDefinition(name = "Reconnect delay (ms)", description = "Pause between two attempts to reach a lost "
            + "backup, ms", min = "1")
    long reconnect_delay_ms() default 250;

    @AttributeDefinition(name = "Checkpoints in flight", description = "Checkpoints sent and not yet acknowledged "
            + "before the epoch loop waits for the backup (the domain keeps running: the epoch gets longer, the "
            + "primary's memory does not grow)", min = "1")
    int max_inflight_epochs() default 4;

    @AttributeDefinition(name = "Initial copy batch", description = "Pages per batch of the initial full copy, which "
            + "runs while the domain runs", min = "1")
    int initial_copy_batch() default 256;

    @AttributeDefinition(name = "Failover mode", description = "What a backup does when its failure detector convicts "
            + "the primary: automatic activates the replica (with a witness, only once it holds the domain's lease); "
            + "manual raises an alarm and waits for romulus:failover. Without a witness, automatic risks split brain "
            + "when the primary is only cut off (a partition)", options = {
                @Option(label = "automatic", value = "automatic"), @Option(label = "manual", value = "manual")})
    String failover_mode() default "automatic";

    @AttributeDefinition(name = "Backup heartbeat port", description = "UDP heartbeat port of a backup, when "
            + "romulus:protect names no --heartbeat address", min = "1", max = "65535")
    int peer_heartbeat_port() default 7490;

    @AttributeDefinition(name = "Protect back after failover", description = "After a failover, protect the domain "
            + "back towards the node it came from as soon as that node answers as a backup (a full copy, then "
            + "PROTECTED); until then it runs UNPROTECTED")
    boolean failover_reprotect() default true;

    @AttributeDefinition(name = "Grace after a primary's update", description = "How long, in ms, a backup holds back "
            + "automatic failover after its primary stopped the stream for an update of its own engine or transport "
            + "(a bundle update or refresh; the primary's heartbeats may pause meanwhile). A primary silent for "
            + "longer is judged as usual. 0 turns the grace off")
    long handover_grace_ms() default EngineSettings.DEFAULT_HANDOVER_GRACE_MS;
}
