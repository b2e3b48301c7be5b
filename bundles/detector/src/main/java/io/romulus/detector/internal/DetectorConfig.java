package io.romulus.detector.internal;

import io.romulus.api.node.NodeIdentity;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.detector}: heartbeats and the phi-accrual failure detector. */
@ObjectClassDefinition(name = "Romulus failure detector",
        description = "UDP heartbeats between Romulus nodes on their own port, judged by a phi-accrual detector")
public @interface DetectorConfig {

    @AttributeDefinition(name = "Listen address", description = "Address the heartbeat socket binds to (0.0.0.0: "
            + "every IPv4 address; ::, every IPv4 and IPv6 address)")
    String listen_address() default DetectorSettings.DEFAULT_LISTEN_ADDRESS;

    @AttributeDefinition(name = "Listen port", description = "UDP port heartbeats are sent from and received on (0: a "
            + "free port, tests only). ROMULUS_HEARTBEAT_PORT sets it", min = "0", max = "65535")
    int listen_port() default DetectorSettings.DEFAULT_LISTEN_PORT;

    /** Deprecated: the node's one name is node.id in io.romulus.node; this one is read when that is empty. */
    @AttributeDefinition(name = "Node id (deprecated)", description = NodeIdentity.DEPRECATED_KEY_DESCRIPTION)
    String node_id() default "";

    @AttributeDefinition(name = "Secret file", description = "The pre-shared secret heartbeats are authenticated with "
            + "(an HMAC-SHA256 each): the same file as auth.secret.file of io.romulus.transport.mina, created with 32 "
            + "random bytes at the first start if missing. An unreadable or invalid file stops the detector from "
            + "starting. Empty: heartbeats are not authenticated, with a WARN at start; a node so configured and one "
            + "with a secret refuse each other's heartbeats")
    String auth_secret_file() default DetectorSettings.DEFAULT_SECRET_FILE;

    @AttributeDefinition(name = "Heartbeat interval (ms)", description = "Milliseconds between two heartbeats to each "
            + "peer, and between two evaluations of phi", min = "1")
    long interval_ms() default DetectorSettings.DEFAULT_INTERVAL_MS;

    @AttributeDefinition(name = "Threshold", description = "phi at which a peer is suspected (and a backup may fail "
            + "over); higher waits longer and errs less (8: a 1e-8 chance that a peer this late is still alive)",
            min = "0.1")
    double threshold() default DetectorSettings.DEFAULT_THRESHOLD;

    @AttributeDefinition(name = "Minimum standard deviation (ms)", description = "Smallest standard deviation of "
            + "heartbeat inter-arrival times assumed, ms, so that regular heartbeats on a quiet network make no hair "
            + "trigger",
            min = "1")
    long min_std_dev_ms() default DetectorSettings.DEFAULT_MIN_STD_DEV_MS;

    @AttributeDefinition(name = "Acceptable pause (ms)", description = "Silence tolerated, ms, on top of the mean "
            + "interval (GC, a loaded host, a lost datagram) before phi rises; raise it where the heartbeat threads "
            + "cannot get real-time priority", min = "0")
    long acceptable_pause_ms() default DetectorSettings.DEFAULT_ACCEPTABLE_PAUSE_MS;

    @AttributeDefinition(name = "Window", description = "Heartbeat inter-arrival times the mean and standard "
            + "deviation are taken over (500 x 10 ms: 5 s)", min = "2")
    int window() default DetectorSettings.DEFAULT_WINDOW;
}
