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
}
