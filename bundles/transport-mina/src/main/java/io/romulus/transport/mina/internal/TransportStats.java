package io.romulus.transport.mina.internal;

import java.util.concurrent.atomic.LongAdder;

/** Counters of one transport, since it started. */
public final class TransportStats {

    final LongAdder recordsSent = new LongAdder();
    final LongAdder recordsReceived = new LongAdder();
    final LongAdder bytesSent = new LongAdder();
    final LongAdder bytesReceived = new LongAdder();
    final LongAdder rejectedConnections = new LongAdder();
    final LongAdder refusedConnections = new LongAdder();
    final LongAdder rawPageBytes = new LongAdder();
    final LongAdder encodedPageBytes = new LongAdder();

    public long recordsSent() {
        return recordsSent.sum();
    }

    public long recordsReceived() {
        return recordsReceived.sum();
    }

    public long bytesSent() {
        return bytesSent.sum();
    }

    public long bytesReceived() {
        return bytesReceived.sum();
    }

    public long rejectedConnections() {
        return rejectedConnections.sum();
    }

    /** Connections closed on arrival because max.connections or max.pending.handshakes was reached. */
    public long refusedConnections() {
        return refusedConnections.sum();
    }

    /** Raw page bytes over encoded page bytes ({@code PAGE_BATCH} bodies), 1.0 before any page was sent. */
    public double compressionRatio() {
        long encoded = encodedPageBytes.sum();
        return encoded == 0 ? 1.0 : (double) rawPageBytes.sum() / encoded;
    }
}
