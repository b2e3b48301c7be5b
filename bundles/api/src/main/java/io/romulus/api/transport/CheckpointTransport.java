package io.romulus.api.transport;

import java.net.InetSocketAddress;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The checkpoint stream between Romulus nodes: a listening side that receives replicas and a connecting side that
 * sends checkpoints.
 */
@ProviderType
public interface CheckpointTransport {

    /**
     * Opens a stream to the backup at {@code peer} and exchanges HELLO.
     *
     * @throws CheckpointException if the backup cannot be reached, fails authentication or refuses the domain
     */
    CheckpointChannel connect(InetSocketAddress peer, Hello hello, AckListener listener)
            throws CheckpointException, InterruptedException;

    /** Sets the acceptor that receives the streams arriving at this node's listening port. */
    void setAcceptor(ReplicaAcceptor acceptor);

    /** Where this node listens for streams, or {@code null} if it does not. */
    InetSocketAddress listenAddress();

    /** One line per open connection, for status displays. */
    List<ConnectionInfo> connections();

    /**
     * An open connection.
     *
     * @param role         {@code primary} (this node sends) or {@code backup} (this node receives)
     * @param domain       the domain it carries
     * @param remote       the peer's address
     * @param bytesOut     bytes written
     * @param bytesIn      bytes read
     * @param queuedBytes  bytes waiting in the outgoing queue
     * @param lastEpoch    last epoch sent (primary) or acknowledged (backup)
     */
    record ConnectionInfo(String role, String domain, String remote, long bytesOut, long bytesIn, long queuedBytes,
            long lastEpoch) {
    }
}
