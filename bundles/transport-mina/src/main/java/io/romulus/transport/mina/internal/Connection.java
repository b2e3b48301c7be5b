package io.romulus.transport.mina.internal;

import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.mina.core.session.AttributeKey;
import org.apache.mina.core.session.IoSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.transport.CheckpointTransport.ConnectionInfo;

/** One end of one stream; the state machine lives in the subclasses, driven by {@link StreamHandler}. */
abstract class Connection {

    static final AttributeKey KEY = new AttributeKey(Connection.class, "connection");
    private static final Logger LOG = LoggerFactory.getLogger(Connection.class);

    final MinaCheckpointTransport transport;
    final IoSession session;
    private final AtomicBoolean rejected = new AtomicBoolean();
    volatile String domain = "?";
    volatile long lastEpoch = -1;

    Connection(MinaCheckpointTransport transport, IoSession session) {
        this.transport = transport;
        this.session = session;
    }

    abstract String role();

    /** Handles one decoded record, in stream order, on the session's I/O thread. */
    abstract void received(Record record) throws MalformedRecordException;

    /** The session is gone; called once. {@code failure} is what ended it, {@code null} when it ended orderly. */
    abstract void ended(Throwable failure);

    String remote() {
        return String.valueOf(session.getRemoteAddress());
    }

    ConnectionInfo info() {
        return new ConnectionInfo(role(), domain, remote(), session.getWrittenBytes(), session.getReadBytes(),
                session.getScheduledWriteBytes(), lastEpoch);
    }

    /**
     * Drops the connection because of what the peer did: ONE warning naming the peer and the reason, the rejected
     * counter, an ERROR record to the peer, then close.
     *
     * @return whether this call did it (later calls are ignored)
     */
    boolean reject(String reason) {
        if (!rejected.compareAndSet(false, true)) {
            return false;
        }
        LOG.warn("Dropping checkpoint stream {} {} (domain {}): {}", role().equals("backup") ? "from" : "to",
                remote(), domain, reason);
        transport.stats().rejectedConnections.increment();
        if (session.isConnected() && !session.isClosing()) {
            session.write(Messages.error(reason));
        }
        session.closeOnFlush();
        return true;
    }

    /** Refuses the stream without counting it as a bad peer (e.g. no engine here). */
    void refuse(String reason) {
        refuse(reason, false);
    }

    /** Refuses the stream; {@code takenOver}: because this node runs the domain now. */
    void refuse(String reason, boolean takenOver) {
        if (!rejected.compareAndSet(false, true)) {
            return;
        }
        LOG.warn("Refusing checkpoint stream from {} (domain {}): {}", remote(), domain, reason);
        session.write(Messages.error(reason, takenOver));
        session.closeOnFlush();
    }

    boolean wasRejected() {
        return rejected.get();
    }
}
