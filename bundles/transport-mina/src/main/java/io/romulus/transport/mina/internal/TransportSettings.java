package io.romulus.transport.mina.internal;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Everything a {@link MinaCheckpointTransport} needs, without OSGi. Build one with {@link #defaults()} and the
 * {@code with...} methods.
 *
 * @param listenHost         address to listen on, or {@code null} not to listen (connect only)
 * @param listenPort         port to listen on, {@code 0} for an ephemeral one
 * @param nodeId             this node's identity in HELLO
 * @param pskEnabled         whether peers must prove the pre-shared secret (HMAC-SHA256 challenge-response)
 * @param secretFile         the pre-shared secret (base64); created with 32 random bytes if missing
 * @param tlsEnabled         whether the stream runs over TLS with mutual authentication
 * @param keystore           PKCS12 keystore with this node's key and certificate
 * @param keystorePassword   its password
 * @param truststore         PKCS12 truststore with the certificates of trusted peers
 * @param truststorePassword its password
 * @param highWatermarkBytes sends block while more than this many bytes wait in a connection's outgoing queue
 * @param maxRecordBytes     longest record body accepted
 * @param deltaCacheBytes    size of the per-connection XOR delta cache ({@code 0} disables delta encoding)
 * @param connectTimeoutMs   connect and HELLO timeout
 * @param encryption         whether records after the handshake are encrypted (AES-256-GCM) as well as authenticated;
 *                           {@code false}: authenticated only (AES-GMAC), the bodies in clear (for debugging)
 * @param limits             what a peer may cost this node before it has proved the secret
 * @param tlsProtocols       the TLS versions offered and accepted when TLS is on: {@code TLSv1.3} (the default)
 *                           and {@code TLSv1.2}, nothing older
 */
public record TransportSettings(String listenHost, int listenPort, String nodeId, boolean pskEnabled, Path secretFile,
        boolean tlsEnabled, Path keystore, String keystorePassword, Path truststore, String truststorePassword,
        long highWatermarkBytes, int maxRecordBytes, long deltaCacheBytes, long connectTimeoutMs, boolean encryption,
        Limits limits, List<String> tlsProtocols) {

    /**
     * Bounds on the listening side before a peer has completed the handshake (proved the pre-shared secret).
     *
     * @param handshakeTimeoutMs      an accepted connection that has not completed the handshake this long after it
     *                                was accepted is closed
     * @param idleTimeoutMs           before the handshake completes, the longest the peer may send nothing
     * @param maxConnections          most stream connections accepted at once; further ones are closed at once
     * @param maxPendingHandshakes    most accepted connections that have not completed the handshake; further ones
     *                                are closed at once
     * @param handshakeMaxRecordBytes longest record body accepted before the handshake completes, in both roles
     * @param maxPendingHandshakesPerAddress most of those pending handshakes from one IP address, so that one address
     *                                cannot take every pending slot and keep the real primary out
     */
    public record Limits(long handshakeTimeoutMs, long idleTimeoutMs, int maxConnections, int maxPendingHandshakes,
            int handshakeMaxRecordBytes, int maxPendingHandshakesPerAddress) {

        public static final long DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
        public static final long DEFAULT_IDLE_TIMEOUT_MS = 3_000;
        public static final int DEFAULT_MAX_CONNECTIONS = 64;
        public static final int DEFAULT_MAX_PENDING_HANDSHAKES = 16;
        public static final int DEFAULT_MAX_PENDING_HANDSHAKES_PER_ADDRESS = 8;
        public static final int DEFAULT_HANDSHAKE_MAX_RECORD_BYTES = 64 * 1024;

        public Limits {
            if (handshakeTimeoutMs < 1 || idleTimeoutMs < 1) {
                throw new IllegalArgumentException("handshake.timeout.ms and idle.timeout.ms must be positive, not "
                        + handshakeTimeoutMs + " and " + idleTimeoutMs);
            }
            if (maxConnections < 1 || maxPendingHandshakes < 1) {
                throw new IllegalArgumentException("max.connections and max.pending.handshakes must be positive, "
                        + "not " + maxConnections + " and " + maxPendingHandshakes);
            }
            if (handshakeMaxRecordBytes < 1024) {
                throw new IllegalArgumentException("handshake.max.record.bytes must be at least 1024, not "
                        + handshakeMaxRecordBytes);
            }
            if (maxPendingHandshakesPerAddress < 1) {
                throw new IllegalArgumentException("max.pending.handshakes.per.address must be positive, not "
                        + maxPendingHandshakesPerAddress);
            }
        }

        /** Without a bound per address beyond {@code maxPendingHandshakes}. */
        public Limits(long handshakeTimeoutMs, long idleTimeoutMs, int maxConnections, int maxPendingHandshakes,
                int handshakeMaxRecordBytes) {
            this(handshakeTimeoutMs, idleTimeoutMs, maxConnections, maxPendingHandshakes, handshakeMaxRecordBytes,
                    maxPendingHandshakes);
        }

        /** The documented defaults. */
        public static Limits defaults() {
            return new Limits(DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS,
                    DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_HANDSHAKE_MAX_RECORD_BYTES,
                    DEFAULT_MAX_PENDING_HANDSHAKES_PER_ADDRESS);
        }
    }

    public static final int DEFAULT_PORT = 7480;
    public static final long DEFAULT_HIGH_WATERMARK = 16L * 1024 * 1024;
    public static final long DEFAULT_DELTA_CACHE = 64L * 1024 * 1024;
    public static final long DEFAULT_CONNECT_TIMEOUT_MS = 5000;
    public static final List<String> DEFAULT_TLS_PROTOCOLS = List.of("TLSv1.3");
    /** The TLS versions {@code tls.protocols} may name. */
    public static final List<String> SUPPORTED_TLS_PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

    public TransportSettings {
        if (listenPort < 0 || listenPort > 65535) {
            throw new IllegalArgumentException("listen.port must be 0..65535, not " + listenPort);
        }
        if (pskEnabled && secretFile == null) {
            throw new IllegalArgumentException("auth.secret.file is required when the pre-shared secret is enabled");
        }
        if (tlsEnabled && (keystore == null || truststore == null)) {
            throw new IllegalArgumentException("tls.enabled=true needs tls.keystore and tls.truststore");
        }
        if (highWatermarkBytes < 1) {
            throw new IllegalArgumentException("high.watermark.bytes must be positive, not " + highWatermarkBytes);
        }
        if (deltaCacheBytes < 0) {
            throw new IllegalArgumentException("delta.cache.mb must not be negative");
        }
        if (connectTimeoutMs < 1) {
            throw new IllegalArgumentException("connect.timeout.ms must be positive, not " + connectTimeoutMs);
        }
        new RecordCodec(maxRecordBytes); // validates
        if (limits == null) {
            throw new IllegalArgumentException("limits are required");
        }
        if (tlsProtocols == null || tlsProtocols.isEmpty()) {
            throw new IllegalArgumentException("tls.protocols must name at least one of " + SUPPORTED_TLS_PROTOCOLS);
        }
        for (String p : tlsProtocols) {
            if (!SUPPORTED_TLS_PROTOCOLS.contains(p)) {
                throw new IllegalArgumentException("tls.protocols: " + p + " is not one of " + SUPPORTED_TLS_PROTOCOLS);
            }
        }
        tlsProtocols = List.copyOf(tlsProtocols);
    }

    /** Listens on 0.0.0.0:7480, no authentication, no TLS, the documented defaults otherwise. */
    public static TransportSettings defaults() {
        return new TransportSettings("0.0.0.0", DEFAULT_PORT, "node", false, null, false, null, null, null, null,
                DEFAULT_HIGH_WATERMARK, RecordCodec.DEFAULT_MAX_RECORD_BYTES, DEFAULT_DELTA_CACHE,
                DEFAULT_CONNECT_TIMEOUT_MS, true, Limits.defaults(), DEFAULT_TLS_PROTOCOLS);
    }

    public TransportSettings withListen(String host, int port) {
        return new TransportSettings(host, port, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, encryption, limits, tlsProtocols);
    }

    public TransportSettings withNodeId(String id) {
        return new TransportSettings(listenHost, listenPort, id, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, encryption, limits, tlsProtocols);
    }

    public TransportSettings withSecretFile(Path file) {
        return new TransportSettings(listenHost, listenPort, nodeId, file != null, file, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, encryption, limits, tlsProtocols);
    }

    public TransportSettings withTls(Path keystore, String keystorePassword, Path truststore,
            String truststorePassword) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, true, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, encryption, limits, tlsProtocols);
    }

    public TransportSettings withHighWatermark(long bytes) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, bytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, encryption, limits, tlsProtocols);
    }

    public TransportSettings withMaxRecordBytes(int bytes) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, bytes, deltaCacheBytes,
                connectTimeoutMs, encryption, limits, tlsProtocols);
    }

    public TransportSettings withDeltaCacheBytes(long bytes) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, bytes,
                connectTimeoutMs, encryption, limits, tlsProtocols);
    }

    public TransportSettings withConnectTimeoutMs(long ms) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                ms, encryption, limits, tlsProtocols);
    }

    public TransportSettings withEncryption(boolean on) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, on, limits, tlsProtocols);
    }

    public TransportSettings withLimits(Limits l) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, encryption, l, tlsProtocols);
    }

    public TransportSettings withTlsProtocols(List<String> protocols) {
        return new TransportSettings(listenHost, listenPort, nodeId, pskEnabled, secretFile, tlsEnabled, keystore,
                keystorePassword, truststore, truststorePassword, highWatermarkBytes, maxRecordBytes, deltaCacheBytes,
                connectTimeoutMs, encryption, limits, protocols);
    }

    /** The protocols of a {@code tls.protocols} value: comma- or space-separated. */
    public static List<String> tlsProtocols(String value) {
        return value == null ? List.of()
                : Arrays.stream(value.split("[,\\s]+")).filter(v -> !v.isEmpty()).toList();
    }

    @Override
    public String toString() {
        return "TransportSettings[listen=" + listenHost + ":" + listenPort + ", nodeId=" + nodeId + ", psk="
                + pskEnabled + ", secretFile=" + secretFile + ", tls=" + tlsEnabled + " " + tlsProtocols + ", keystore="
                + keystore                + ", truststore=" + truststore + ", highWatermarkBytes=" + highWatermarkBytes + ", maxRecordBytes="
                + maxRecordBytes + ", deltaCacheBytes=" + deltaCacheBytes + ", connectTimeoutMs=" + connectTimeoutMs
                + ", encryption=" + encryption + ", " + limits + "]";
    }
}
