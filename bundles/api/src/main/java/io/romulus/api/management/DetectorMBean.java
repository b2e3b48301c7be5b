package io.romulus.api.management;

import javax.management.MBeanException;
import javax.management.openmbean.TabularData;

/**
 * {@code io.romulus:type=Detector,name=detector}: the heartbeat failure detector of this node.
 */
public interface DetectorMBean {

    /** This node's id in the heartbeats it sends. */
    String getNodeId();

    /** Where the heartbeat socket is bound, {@code host:port}, or empty when it is not. */
    String getListenAddress();

    /** phi at which a peer is suspected. */
    double getThreshold();

    /** Milliseconds between two heartbeats. */
    long getIntervalMs();

    /** Whether heartbeats carry a MAC under the nodes' pre-shared secret, and only authenticated ones count. */
    boolean isAuthenticated();

    /** Heartbeats ignored because they were not authenticated, were sent too far from this node's clock, or replayed. */
    long getRejectedHeartbeats();

    /**
     * One line per monitored peer, for a JMX console: {@code key} = the peer and the monitor's number, {@code value} =
     * its address, phi, whether it is suspected, heartbeats received, silence, inter-arrival mean and standard
     * deviation, and times suspected, in words (Hawtio shows a row of more items as {@code [object Object]}).
     * {@link #peers()} has the same figures as typed items.
     */
    TabularData getPeers() throws MBeanException;

    /**
     * One row per monitored peer, typed: peer, address, phi, suspected, heartbeats received, milliseconds since it was
     * last heard from, mean and standard deviation of the heartbeat inter-arrival time in milliseconds, and the number
     * of times it was suspected (for scripts and {@code romulus:detector}).
     *
     * @since 3.0
     */
    TabularData peers() throws MBeanException;
}
