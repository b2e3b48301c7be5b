package io.romulus.transport.mina.internal;

import io.romulus.api.node.NodeIdentity;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.AttributeType;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration of PID {@code io.romulus.transport.mina}. */
@ObjectClassDefinition(id = MinaCheckpointTransport.PID, name = "Romulus checkpoint stream (MINA)",
        description = "Where this node listens for checkpoint streams and how streams are authenticated.")
public @interface TransportConfig {

    @AttributeDefinition(name = "Listen host", description = "Address the stream listens on for a primary's "
            + "checkpoints. Put it on the replication link")
    String listen_host() default "0.0.0.0";

    @AttributeDefinition(name = "Listen port", description = "TCP port of the stream (0: a free port, tests only). "
            + "ROMULUS_STREAM_PORT sets it")
    int listen_port() default TransportSettings.DEFAULT_PORT;

    /** Deprecated: the node's one name is node.id in io.romulus.node; this one is read when that is empty. */
    @AttributeDefinition(name = "Node id (deprecated)", description = NodeIdentity.DEPRECATED_KEY_DESCRIPTION,
            required = false)
    String node_id() default "";

    @AttributeDefinition(name = "Pre-shared secret", description = "Both nodes prove knowledge of one pre-shared "
            + "secret (HMAC-SHA256 challenge-response with fresh nonces, both directions)")
    boolean auth_psk_enabled() default true;

    @AttributeDefinition(name = "Secret file", description = "The secret, base64 of at least 16 bytes. Created with "
            + "32 random bytes (mode 600) at the first start if missing: give both nodes the same one with "
            + "bin/romulus-setup before their first start")
    String auth_secret_file() default "${karaf.etc}/romulus-stream.secret";

    @AttributeDefinition(name = "TLS", description = "TLS (tls.protocols, TLSv1.3 by default) with mutual "
            + "certificate authentication; each node's certificate must name its node.id as a subjectAltName DNS entry "
            + "(checked on both sides against the node id the peer announces). May be combined with the secret")
    boolean tls_enabled() default false;

    @AttributeDefinition(name = "TLS protocols", description = "TLS versions offered and accepted, comma-separated: "
            + "TLSv1.3 (the default) and TLSv1.2, nothing older. A peer that offers none of them is refused in the TLS "
            + "handshake")
    String tls_protocols() default "TLSv1.3";

    @AttributeDefinition(name = "Keystore", description = "PKCS12 key store with this node's key and certificate",
            required = false)
    String tls_keystore() default "";

    /** Key {@code .tls.keystore.password}: the leading dot keeps it out of the service properties. */
    @AttributeDefinition(name = "Keystore password", description = "Password of tls.keystore (a key that starts with "
            + "a dot is never published as a service property)", type = AttributeType.PASSWORD, required = false)
    String _tls_keystore_password() default "";

    @AttributeDefinition(name = "Truststore", description = "PKCS12 trust store with the peer's certificate (or its "
            + "CA)", required = false)
    String tls_truststore() default "";

    /** Key {@code .tls.truststore.password}: the leading dot keeps it out of the service properties. */
    @AttributeDefinition(name = "Truststore password", description = "Password of tls.truststore",
            type = AttributeType.PASSWORD, required = false)
    String _tls_truststore_password() default "";

    @AttributeDefinition(name = "High watermark", description = "Sends on the primary block while more than this many "
            + "bytes wait in the connection's outgoing queue (backpressure)")
    long high_watermark_bytes() default TransportSettings.DEFAULT_HIGH_WATERMARK;

    @AttributeDefinition(name = "Max record", description = "Longest record body accepted after the handshake, bytes; "
            + "a longer length drops the connection before anything is allocated")
    int max_record_bytes() default RecordCodec.DEFAULT_MAX_RECORD_BYTES;

    @AttributeDefinition(name = "Delta cache", description = "Per-connection cache of last-sent pages for XOR-delta "
            + "encoding, MiB of heap on each side (0: off). The connection uses the smaller of the two nodes' values")
    int delta_cache_mb() default 64;

    @AttributeDefinition(name = "Connect timeout", description = "Timeout in ms for connecting to the backup and for "
            + "the HELLO exchange (TLS handshake included)")
    long connect_timeout_ms() default TransportSettings.DEFAULT_CONNECT_TIMEOUT_MS;

    @AttributeDefinition(name = "Encryption", description = "After the handshake every record in both directions is "
            + "sealed under keys derived from the secret (HKDF-SHA256 over the secret, both nonces and both handshake "
            + "bodies), with a per-direction sequence number: a record altered, injected, replayed, reordered or "
            + "dropped ends the stream. true: AES-256-GCM, nothing crosses in clear; false: AES-GMAC tags only, "
            + "records in clear, for debugging with a packet capture. The stronger of the two nodes' choices wins; no "
            + "setting turns the tags off")
    boolean stream_encryption() default true;

    @AttributeDefinition(name = "Handshake timeout", description = "A connection that has not completed the handshake "
            + "(proved the secret) this many ms after it was accepted is closed")
    long handshake_timeout_ms() default TransportSettings.Limits.DEFAULT_HANDSHAKE_TIMEOUT_MS;

    @AttributeDefinition(name = "Idle timeout", description = "Before the handshake completes, a connection on which "
            + "nothing arrives for this many ms is closed")
    long idle_timeout_ms() default TransportSettings.Limits.DEFAULT_IDLE_TIMEOUT_MS;

    @AttributeDefinition(name = "Max connections", description = "Most stream connections (authenticated or not) "
            + "accepted at once; further ones are closed on arrival")
    int max_connections() default TransportSettings.Limits.DEFAULT_MAX_CONNECTIONS;

    @AttributeDefinition(name = "Max pending handshakes", description = "Most accepted connections that have not "
            + "completed the handshake at once; further ones are closed on arrival")
    int max_pending_handshakes() default TransportSettings.Limits.DEFAULT_MAX_PENDING_HANDSHAKES;

    @AttributeDefinition(name = "Max pending handshakes per address", description = "Most of those pending "
            + "handshakes from one IP address, so that one address cannot take them all")
    int max_pending_handshakes_per_address() default
            TransportSettings.Limits.DEFAULT_MAX_PENDING_HANDSHAKES_PER_ADDRESS;

    @AttributeDefinition(name = "Max handshake record", description = "Longest record body accepted before the "
            + "handshake completes (the HELLO with its options), bytes; nothing longer is buffered until then")
    int handshake_max_record_bytes() default TransportSettings.Limits.DEFAULT_HANDSHAKE_MAX_RECORD_BYTES;

    @AttributeDefinition(name = "TCP minimum retransmission timeout", description = "Lowest retransmission timeout "
            + "of the stream's sockets in ms, rounded up to the kernel's timer tick (TCP_RTO_MIN_US, Linux 6.15 and "
            + "later; 0: the kernel's 200 ms or the route's rto_min). One lost segment holds every checkpoint and "
            + "ACK behind it until TCP recovers; this bounds the wait for a lost tail segment or a lost ACK. On "
            + "older kernels set rto_min on the replication route instead (docs/operations.md)")
    int tcp_rto_min_ms() default SocketTuning.DEFAULT_RTO_MIN_MS;

    @AttributeDefinition(name = "TCP maximum retransmission timeout", description = "Highest retransmission timeout "
            + "of the stream's sockets in ms after backing off (TCP_RTO_MAX_MS, Linux 6.15 and later; 1000..120000, "
            + "0: the kernel's 120 s)")
    int tcp_rto_max_ms() default SocketTuning.DEFAULT_RTO_MAX_MS;

    @AttributeDefinition(name = "TCP thin linear timeouts", description = "TCP_THIN_LINEAR_TIMEOUTS on the stream's "
            + "sockets: while fewer than four segments are in flight (the backup's ACKs), retransmission timeouts "
            + "do not back off exponentially")
    boolean tcp_thin_linear_timeouts() default true;

    @AttributeDefinition(name = "TCP congestion control", description = "Congestion control of the stream's sockets "
            + "(TCP_CONGESTION; empty: the host's default). BBR does not take random loss for congestion: with "
            + "CUBIC, Debian's default, 1% loss at 50 ms RTT caps the stream far below what the checkpoints need. "
            + "A name the kernel does not have is reported and the host's default is kept", required = false)
    String tcp_congestion() default SocketTuning.DEFAULT_CONGESTION;
}
