package io.romulus.api.detector;

import java.net.InetSocketAddress;

import org.osgi.annotation.versioning.ProviderType;

/** Heartbeat failure detection between Romulus nodes (ARCHITECTURE.md section 6). */
@ProviderType
public interface FailureDetector {

    /** Starts exchanging heartbeats with a peer and watching it. */
    Monitor monitor(String peerId, InetSocketAddress heartbeatAddress, Listener listener);

    /** Watches one peer. */
    interface Monitor extends AutoCloseable {

        /** The current suspicion level. */
        double phi();

        /** Other traffic from the peer (checkpoint ACKs, stream records) also proves it alive. */
        void alive();

        @Override
        void close();
    }

    /** Told when a peer is suspected or recovers; called on a detector thread, must not block. */
    interface Listener {

        void suspected(String peerId, double phi);

        void recovered(String peerId);
    }
}
