package io.romulus.api.detector;

import java.net.InetSocketAddress;

import org.osgi.annotation.versioning.ProviderType;

/** Heartbeat failure detection between Romulus nodes (ARCHITECTURE.md section 6). */
@ProviderType
public interface FailureDetector {

    /** The node id this detector puts in its heartbeats (peers recognise this node by it). */
    String nodeId();

    /**
     * Starts exchanging heartbeats with a peer and watching it.
     *
     * @param peerId           the peer's node id, as its heartbeats carry it
     * @param heartbeatAddress where to send heartbeats, or {@code null} to learn it from the peer's own heartbeats
     *                         (their source address); until then none are sent to the peer, and it can still be
     *                         suspected
     * @param listener         told of suspicion and recovery
     */
    Monitor monitor(String peerId, InetSocketAddress heartbeatAddress, Listener listener);

    /** Watches one peer. */
    interface Monitor extends AutoCloseable {

        /** The current suspicion level. */
        double phi();

        /** Whether the peer is suspected now (phi reached the threshold and it was not heard from since). */
        boolean suspected();

        /** Other traffic from the peer (checkpoint ACKs, stream records) also proves it alive. */
        void alive();

        /**
         * Milliseconds since the peer was last heard from (heartbeat or other evidence), for reports of how long a
         * conviction took; NaN where the detector does not know.
         */
        default double silenceMillis() {
            return Double.NaN;
        }

        @Override
        void close();
    }

    /** Told when a peer is suspected or recovers; called on a detector thread, must not block. */
    interface Listener {

        void suspected(String peerId, double phi);

        void recovered(String peerId);
    }
}
