package io.romulus.api.management;

import javax.management.openmbean.TabularData;

/**
 * {@code io.romulus:type=Transport,name=mina}: the checkpoint stream.
 */
public interface TransportMBean {

    String getListenAddress();

    boolean isTlsEnabled();

    boolean isAuthenticationRequired();

    long getBytesSent();

    long getBytesReceived();

    long getRecordsSent();

    long getRecordsReceived();

    /** Connections dropped because of malformed, truncated or unauthenticated input. */
    long getRejectedConnections();

    /** Raw page bytes over encoded page bytes, since start. */
    double getCompressionRatio();

    /**
     * One row per open connection, {@code key} = role, domain and peer address, {@code value} = one line: bytes out, in
     * and queued, and the last epoch sent (primary) or acknowledged (backup).
     */
    TabularData getConnections();
}
