package io.romulus.transport.mina.internal;

import io.romulus.api.node.NodeIdentity;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.AttributeType;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration of PID {@code io.romulus.transport.mina}. */
@ObjectClassDefinition(id = MinaCheckpointTransport.PID, name = "Romulus checkpoint stream (MINA)",
        description = "Where this node listens for checkpoint streams and how streams are authenticated.")
public @interface TransportConfig {

    @AttributeDefinition(name = "Listen host", description = "Address to listen on for streams from primaries")
    String listen_host() default "0.0.0.0";

    @AttributeDefinition(name = "Listen port", description = "TCP port to listen on; 0 picks a free one")
    int listen_port() default TransportSettings.DEFAULT_PORT;

    /** Deprecated: the node's one name is node.id in io.romulus.node; this one is read when that is empty. */
    @AttributeDefinition(name = "Node id (deprecated)", description = NodeIdentity.DEPRECATED_KEY_DESCRIPTION,
            required = false)
    String node_id() default "";

    @AttributeDefinition(name = "Pre-shared secret", description = "Require HMAC-SHA256 proof of the shared secret "
            + "from the peer, both directions")
    boolean auth_psk_enabled() default true;

    @AttributeDefinition(name = "Secret file", description = "Base64 secret shared by both nodes; created with 32 "
            + "random bytes (mode 600) if missing")
    String auth_secret_file() default "${karaf.etc}/romulus-stream.secret";

    @AttributeDefinition(name = "TLS", description = "Run streams over TLS with mutual certificate authentication")
    boolean tls_enabled() default false;

    @AttributeDefinition(name = "Keystore", description = "PKCS12 keystore with this node's key", required = false)
    String tls_keystore() default "";

    /** Key {@code .tls.keystore.password}: the leading dot keeps it out of the service properties. */
    @AttributeDefinition(name = "Keystore password", type = AttributeType.PASSWORD, required = false)
    String _tls_keystore_password() default "";

    @AttributeDefinition(name = "Truststore", description = "PKCS12 truststore with the peers' certificates",
            required = false)
    String tls_truststore() default "";

    /** Key {@code .tls.truststore.password}: the leading dot keeps it out of the service properties. */
    @AttributeDefinition(name = "Truststore password", type = AttributeType.PASSWORD, required = false)
    String _tls_truststore_password() default "";

    @AttributeDefinition(name = "High watermark", description = "Sends block while more bytes than this wait in a "
            + "connection's outgoing queue")
    long high_watermark_bytes() default TransportSettings.DEFAULT_HIGH_WATERMARK;

    @AttributeDefinition(name = "Max record", description = "Longest record body accepted, in bytes")
    int max_record_bytes() default RecordCodec.DEFAULT_MAX_RECORD_BYTES;

    @AttributeDefinition(name = "Delta cache", description = "Per-connection cache of last sent pages for XOR "
            + "delta encoding, in MiB (0 disables)")
    int delta_cache_mb() default 64;

    @AttributeDefinition(name = "Connect timeout", description = "Connect and HELLO timeout in milliseconds")
    long connect_timeout_ms() default TransportSettings.DEFAULT_CONNECT_TIMEOUT_MS;

    @AttributeDefinition(name = "Encryption", description = "Encrypt every record after the handshake (AES-256-GCM "
            + "under keys derived from the pre-shared secret and both nonces); false: authenticate only (AES-GMAC), "
            + "the records in clear, for debugging. Records are always authenticated.")
    boolean stream_encryption() default true;

    @AttributeDefinition(name = "Handshake timeout", description = "A connection that has not completed the "
            + "handshake this many milliseconds after it was accepted is closed")
    long handshake_timeout_ms() default TransportSettings.Limits.DEFAULT_HANDSHAKE_TIMEOUT_MS;

    @AttributeDefinition(name = "Idle timeout", description = "Before the handshake completes, a connection on "
            + "which nothing arrives for this many milliseconds is closed")
    long idle_timeout_ms() default TransportSettings.Limits.DEFAULT_IDLE_TIMEOUT_MS;

    @AttributeDefinition(name = "Max connections", description = "Most stream connections accepted at once")
    int max_connections() default TransportSettings.Limits.DEFAULT_MAX_CONNECTIONS;

    @AttributeDefinition(name = "Max pending handshakes", description = "Most accepted connections that have not "
            + "completed the handshake at once")
    int max_pending_handshakes() default TransportSettings.Limits.DEFAULT_MAX_PENDING_HANDSHAKES;

    @AttributeDefinition(name = "Max pending handshakes per address", description = "Most of those pending "
            + "handshakes from one IP address, so that one address cannot take them all")
    int max_pending_handshakes_per_address() default
            TransportSettings.Limits.DEFAULT_MAX_PENDING_HANDSHAKES_PER_ADDRESS;

    @AttributeDefinition(name = "Max handshake record", description = "Longest record body accepted before the "
            + "handshake completes, in bytes")
    int handshake_max_record_bytes() default TransportSettings.Limits.DEFAULT_HANDSHAKE_MAX_RECORD_BYTES;
}
