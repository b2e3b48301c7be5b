package io.romulus.detector.internal;

import io.romulus.api.node.NodeIdentity;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.detector}: heartbeats and the phi-accrual failure detector. */
@ObjectClassDefinition(name = "Romulus failure detector",
        description = "UDP heartbeats between Romulus nodes on their own port, judged by a phi-accrual detector")
public @interface DetectorConfig {

    @AttributeDefinition(name = "Listen address", description = "Address the heartbeat socket binds to; 0.0.0.0 "
            + "is every IPv4 address, :: every address")
    String listen_address() default DetectorSettings.DEFAULT_LISTEN_ADDRESS;

    @AttributeDefinition(name = "Listen port", description = "UDP port heartbeats are sent from and received on "
            + "(0: any free port)", min = "0", max = "65535")
    int listen_port() default DetectorSettings.DEFAULT_LISTEN_PORT;

    /** Deprecated: the node's one name is node.id in io.romulus.node; this one is read when that is empty. */
    @AttributeDefinition(name = "Node id (deprecated)", description = NodeIdentity.DEPRECATED_KEY_DESCRIPTION)
    String node_id() default "";

    @AttributeDefinition(name = "Secret file", description = "The nodes' pre-shared secret (base64), the same "
            + "file as the checkpoint stream's auth.secret.file: heartbeats carry an HMAC-SHA256 under it and are "
            + "refused without; created with 32 random bytes if missing. Empty: heartbeats are not authenticated")
    String auth_secret_file() default DetectorSettings.DEFAULT_SECRET_FILE;

    @AttributeDefinition(name = "Heartbeat interval (ms)", description = "Time between two heartbeats to each "
            + "monitored peer, and between two evaluations of phi", min = "1")
    long interval_ms() default DetectorSettings.DEFAULT_INTERVAL_MS;

    @AttributeDefinition(name = "Threshold", description = "phi at which a peer is suspected; 8 means a "
            + "1e-8 chance that a peer this late is still alive", min = "0.1")
    double threshold() default DetectorSettings.DEFAULT_THRESHOLD;

    @AttributeDefinition(name = "Minimum standard deviation (ms)", description = "Smallest standard deviation of "
            + "heartbeat inter-arrival times assumed, so that very regular heartbeats do not make a hair trigger",
            min = "1")
    long min_std_dev_ms() default DetectorSettings.DEFAULT_MIN_STD_DEV_MS;

    @AttributeDefinition(name = "Acceptable pause (ms)", description = "Silence tolerated on top of the mean "
            + "heartbeat interval (garbage collection, a loaded host) before phi starts to rise", min = "0")
    long acceptable_pause_ms() default DetectorSettings.DEFAULT_ACCEPTABLE_PAUSE_MS;

    @AttributeDefinition(name = "Window", description = "Number of recent heartbeat inter-arrival times the "
            + "mean and standard deviation are taken over", min = "2")
    int window() default DetectorSettings.DEFAULT_WINDOW;
}
