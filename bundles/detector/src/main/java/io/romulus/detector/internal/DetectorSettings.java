package io.romulus.detector.internal;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import io.romulus.support.host.HostName;
import io.romulus.support.secret.SecretFile;

/**
 * The failure detector's settings, usable without OSGi.
 *
 * @param listenAddress     address the heartbeat socket binds to
 * @param listenPort        UDP port of the heartbeat socket (0: any free port)
 * @param nodeId            this node's name in the heartbeats it sends
 * @param intervalMs        time between two heartbeats to each peer, and between two evaluations of phi
 * @param threshold         phi at which a peer is suspected
 * @param minStdDevMs       smallest standard deviation of inter-arrival times assumed
 * @param acceptablePauseMs silence tolerated on top of the mean interval
 * @param window            inter-arrival times kept per peer
 * @param secretFile        the pre-shared secret heartbeats are authenticated with; null: they are not
 */
public record DetectorSettings(String listenAddress, int listenPort, String nodeId, long intervalMs,
        double threshold, long minStdDevMs, long acceptablePauseMs, int window, Path secretFile) {

    public static final String DEFAULT_LISTEN_ADDRESS = "0.0.0.0";
    public static final int DEFAULT_LISTEN_PORT = 7490;
    public static final long DEFAULT_INTERVAL_MS = 10;
    public static final double DEFAULT_THRESHOLD = 8.0;
    public static final long DEFAULT_MIN_STD_DEV_MS = 10;
    public static final long DEFAULT_ACCEPTABLE_PAUSE_MS = 80;
    public static final int DEFAULT_WINDOW = 500;
    /** The stream's secret file (auth.secret.file of io.romulus.transport.mina), which both nodes hold. */
    public static final String DEFAULT_SECRET_FILE = SecretFile.KARAF_ETC + "/romulus-stream.secret";

    /** Without a secret: heartbeats are not authenticated. */
    public DetectorSettings(String listenAddress, int listenPort, String nodeId, long intervalMs, double threshold,
            long minStdDevMs, long acceptablePauseMs, int window) {
        this(listenAddress, listenPort, nodeId, intervalMs, threshold, minStdDevMs, acceptablePauseMs, window, null);
    }

    public DetectorSettings {
        if (listenAddress == null || listenAddress.isBlank()) {
            throw new IllegalArgumentException("listen.address must not be empty");
        }
        listenAddress = listenAddress.strip();
        if (listenPort < 0 || listenPort > 0xffff) {
            throw new IllegalArgumentException("listen.port must be 0-65535, not " + listenPort);
        }
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("node.id must not be empty");
        }
        nodeId = nodeId.strip();
        if (nodeId.getBytes(StandardCharsets.UTF_8).length > Heartbeat.MAX_NODE_ID_BYTES) {
            throw new IllegalArgumentException("node.id must be at most " + Heartbeat.MAX_NODE_ID_BYTES
                    + " bytes in UTF-8: " + nodeId);
        }
        if (intervalMs < 1) {
            throw new IllegalArgumentException("interval.ms must be at least 1, not " + intervalMs);
        }
        if (!(threshold > 0) || Double.isInfinite(threshold)) {
            throw new IllegalArgumentException("threshold must be a positive number, not " + threshold);
        }
        if (minStdDevMs < 1) {
            throw new IllegalArgumentException("min.std.dev.ms must be at least 1, not " + minStdDevMs);
        }
        if (acceptablePauseMs < 0) {
            throw new IllegalArgumentException("acceptable.pause.ms must not be negative, not " + acceptablePauseMs);
        }
        if (window < 2) {
            throw new IllegalArgumentException("window must be at least 2, not " + window);
        }
    }

    /** The defaults, for a node of the given name, without a secret (heartbeats not authenticated). */
    public static DetectorSettings defaults(String nodeId) {
        return new DetectorSettings(DEFAULT_LISTEN_ADDRESS, DEFAULT_LISTEN_PORT, nodeId, DEFAULT_INTERVAL_MS,
                DEFAULT_THRESHOLD, DEFAULT_MIN_STD_DEV_MS, DEFAULT_ACCEPTABLE_PAUSE_MS, DEFAULT_WINDOW);
    }

    /** From the OSGi configuration alone (its deprecated node id); an empty node id means the host name. */
    public static DetectorSettings of(DetectorConfig c) throws IOException {
        return of(c, c.node_id());
    }

    /**
     * From the OSGi configuration and the node id ({@code io.romulus.node}, see
     * {@link io.romulus.api.node.NodeIdentity}); an empty node id means the host name.
     */
    public static DetectorSettings of(DetectorConfig c, String nodeId) throws IOException {
        String node = nodeId == null || nodeId.isBlank() ? HostName.get() : nodeId;
        String secret = c.auth_secret_file();
        return new DetectorSettings(c.listen_address(), c.listen_port(), node, c.interval_ms(), c.threshold(),
                c.min_std_dev_ms(), c.acceptable_pause_ms(), c.window(),
                secret == null || secret.isBlank() ? null : SecretFile.resolve(secret));
    }

    /** A copy bound elsewhere (tests use 127.0.0.1 and port 0). */
    public DetectorSettings withListen(String address, int port) {
        return new DetectorSettings(address, port, nodeId, intervalMs, threshold, minStdDevMs, acceptablePauseMs,
                window, secretFile);
    }

    /** A copy with heartbeats authenticated under the secret in {@code file} (null: not authenticated). */
    public DetectorSettings withSecretFile(Path file) {
        return new DetectorSettings(listenAddress, listenPort, nodeId, intervalMs, threshold, minStdDevMs,
                acceptablePauseMs, window, file);
    }

    /** The socket address to bind. */
    public InetSocketAddress listen() {
        return new InetSocketAddress(listenAddress, listenPort);
    }

    /** Whether a change from {@code other} to these settings needs the socket bound again. */
    boolean rebinds(DetectorSettings other) {
        return !listenAddress.equals(other.listenAddress) || listenPort != other.listenPort;
    }
}
