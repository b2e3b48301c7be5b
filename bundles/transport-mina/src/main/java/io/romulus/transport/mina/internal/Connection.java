package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.mina.core.session.AttributeKey;
import org.apache.mina.core.session.IoSession;
import org.apache.mina.core.future.WriteFuture;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.transport.CheckpointTransport.ConnectionInfo;
import io.romulus.api.transport.RecordType;

/** One end of one stream; the state machine lives in the subclasses, driven by {@link StreamHandler}. */
abstract class Connection {

    static final AttributeKey KEY = new AttributeKey(Connection.class, "connection");
    private static final Logger LOG = LoggerFactory.getLogger(Connection.class);

    final MinaCheckpointTransport transport;
    final IoSession session;
    private final AtomicBoolean rejected = new AtomicBoolean();
    volatile String domain = "?";
    volatile long lastEpoch = -1;
    /** Orders sealing with sending: a record is sealed and queued under it, so sequence numbers follow the wire. */
    private final Object writeLock = new Object();
    @GuardedBy("writeLock")
    private RecordCipher sealer;
    /** The receiving direction's cipher once the handshake completed; set and used on the I/O thread. */
    private volatile RecordCipher opener;
    /** The last record in clear arrived; nothing may follow until the keys are installed. */
    private volatile boolean awaitingKeys;

    Connection(MinaCheckpointTransport transport, IoSession session) {
        this.transport = transport;
        this.session = session;
    }

    abstract String role();

    /** Whether {@code record} is the last one the peer sends in clear (after it, only sealed records). */
    abstract boolean endsHandshake(Record record);

    /**
     * Decodes the next record for the MINA decoder, with the limit and the cipher of the connection's phase.
     *
     * @throws MalformedRecordException also when the peer sends anything between its last record in clear and the keys
     */
    final Record decode(RecordCodec codec, ByteBuffer in) throws MalformedRecordException {
        RecordCipher o = opener;
        if (o == null && awaitingKeys) {
            throw new MalformedRecordException("the peer sent more before the handshake completed");
        }
        int limit = o == null ? transport.settings().limits().handshakeMaxRecordBytes() : codec.maxRecordBytes();
        Record record = codec.decode(in, limit, o);
        if (record != null && o == null && endsHandshake(record)) {
            awaitingKeys = true;
        }
        return record;
    }

    /** Frames {@code record} for the MINA encoder: sealed once the handshake completed. */
    final byte[] encode(RecordCodec codec, Record record) {
        synchronized (writeLock) {
            if (sealer == null && record.type() != RecordType.HELLO
                    && record.type() != RecordType.ERROR) {
                throw new IllegalStateException("refusing to send " + record + " in clear before the handshake "
                        + "completed");
            }
            return codec.encode(record, sealer);
        }
    }

    /** Sends a record, sealed once the handshake completed. */
    final WriteFuture write(Record record) {
        synchronized (writeLock) {
            return session.write(record);
        }
    }

    /** Installs the receiving direction's cipher: every record from now on must be sealed under it. */
    final void openWith(RecordCipher cipher) {
        opener = cipher;
    }

    /** Sends {@code last} in clear, then seals everything after it with {@code cipher}. */
    final WriteFuture writeThenSeal(Record last, RecordCipher cipher) {
        synchronized (writeLock) {
            WriteFuture f = session.write(last);
            sealer = cipher;
            return f;
        }
    }

    /** Seals everything sent from now on with {@code cipher}. */
    final void sealWith(RecordCipher cipher) {
        synchronized (writeLock) {
            sealer = cipher;
        }
    }

    /** Whether the handshake completed in both directions (the peer proved the secret, if there is one). */
    final boolean authenticated() {
        synchronized (writeLock) {
            return sealer != null && opener != null;
        }
    }

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
            write(Messages.error(reason));
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
        write(Messages.error(reason, takenOver));
        session.closeOnFlush();
    }

    boolean wasRejected() {
        return rejected.get();
    }
}
