package io.romulus.transport.mina.internal;

import java.io.IOException;

import javax.net.ssl.SSLException;

import org.apache.mina.core.buffer.IoBuffer;
import org.apache.mina.core.service.IoHandlerAdapter;
import org.apache.mina.core.session.IoSession;
import org.apache.mina.core.write.WriteRequest;
import org.apache.mina.filter.FilterEvent;
import org.apache.mina.filter.codec.ProtocolDecoderException;
import org.apache.mina.filter.ssl.SslEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.transport.CheckpointException;

/** Dispatches MINA events of both roles to the session's {@link Connection}. */
final class StreamHandler extends IoHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(StreamHandler.class);
    static final org.apache.mina.core.session.AttributeKey CAUSE =
            new org.apache.mina.core.session.AttributeKey(StreamHandler.class, "cause");

    private final MinaCheckpointTransport transport;

    StreamHandler(MinaCheckpointTransport transport) {
        this.transport = transport;
    }

    @Override
    public void sessionCreated(IoSession session) {
        if (session.isServer()) {
            BackupConnection admitted = transport.admit(session);
            if (admitted == null) {
                session.closeNow();
                return;
            }
            session.setAttribute(Connection.KEY, admitted);
            LOG.debug("Checkpoint stream connection from {}", session.getRemoteAddress());
        }
        Connection c = connection(session);
        if (c != null) {
            transport.opened(c);
        }
    }

    @Override
    public void messageReceived(IoSession session, Object message) {
        Connection c = connection(session);
        if (c == null || c.wasRejected()) {
            return;
        }
        try {
            c.received((Record) message);
        } catch (MalformedRecordException e) {
            failConnection(c, e.getMessage());
        }
    }

    @Override
    public void event(IoSession session, FilterEvent event) {
        if (event != SslEvent.SECURED) {
            return;
        }
        // MINA 2.2's SslFilter runs the handshake's delegated tasks (certificate checks) on a thread of its own, and a
        // task that ends the handshake decodes the records that arrived meanwhile (with TLS 1.3 the primary's HELLO
        // follows its Finished at once) without passing them on: they would wait for the next bytes from the peer,
        // which waits for an answer. Nothing arrives for the empty buffer; it makes the filter pass the queue on.
        session.getFilterChain().fireMessageReceived(IoBuffer.allocate(0));
        if (connection(session) instanceof PrimaryConnection p) {
            p.secured();
        }
    }

    @Override
    public void messageSent(IoSession session, Object message) {
        if (connection(session) instanceof PrimaryConnection p) {
            p.written();
        }
    }

    @Override
    public void exceptionCaught(IoSession session, Throwable cause) {
        Connection c = connection(session);
        if (c == null) {
            LOG.warn("Checkpoint stream {}: {}", session.getRemoteAddress(), cause.toString());
            session.closeNow();
            return;
        }
        Throwable root = cause;
        if (cause instanceof ProtocolDecoderException && cause.getCause() instanceof MalformedRecordException m) {
            root = m;
        }
        String reason;
        if (root instanceof ProtocolDecoderException || root instanceof MalformedRecordException) {
            reason = "malformed input: " + root.getMessage();
        } else if (root instanceof SSLException || root.getCause() instanceof SSLException) {
            reason = "TLS failure: " + (root instanceof SSLException ? root : root.getCause()).getMessage();
        } else if (root instanceof IOException) {
            LOG.debug("Checkpoint stream {}: {}", session.getRemoteAddress(), root.toString());
            session.setAttribute(CAUSE, new CheckpointException("connection to " + c.remote() + " lost: "
                    + root.getMessage(), root));
            session.closeNow();
            return;
        } else {
            LOG.warn("Checkpoint stream {}: unexpected failure", session.getRemoteAddress(), root);
            reason = "internal error: " + root;
        }
        session.setAttribute(CAUSE, new CheckpointException(reason, root));
        failConnection(c, reason);
    }

    private static void failConnection(Connection c, String reason) {
        if (c instanceof BackupConnection b) {
            b.fail(reason);
        } else if (c instanceof PrimaryConnection p) {
            p.fail(reason);
        }
    }

    @Override
    public void sessionClosed(IoSession session) {
        Connection c = connection(session);
        if (c == null) {
            return;
        }
        String truncated = (String) session.removeAttribute(MinaRecordCodecFactory.TRUNCATED);
        if (truncated != null && !c.wasRejected()) {
            failConnection(c, truncated);
        }
        transport.closed(c);
        Throwable cause = (Throwable) session.getAttribute(CAUSE);
        c.ended(cause);
        LOG.debug("Checkpoint stream {} closed", session.getRemoteAddress());
    }

    private static Connection connection(IoSession session) {
        return (Connection) session.getAttribute(Connection.KEY);
    }
}
