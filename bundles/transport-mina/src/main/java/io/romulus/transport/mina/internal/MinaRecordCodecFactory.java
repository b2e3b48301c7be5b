package io.romulus.transport.mina.internal;

import org.apache.mina.core.buffer.IoBuffer;
import org.apache.mina.core.session.AttributeKey;
import org.apache.mina.core.session.IoSession;
import org.apache.mina.filter.codec.CumulativeProtocolDecoder;
import org.apache.mina.filter.codec.ProtocolCodecFactory;
import org.apache.mina.filter.codec.ProtocolDecoder;
import org.apache.mina.filter.codec.ProtocolDecoderException;
import org.apache.mina.filter.codec.ProtocolDecoderOutput;
import org.apache.mina.filter.codec.ProtocolEncoder;
import org.apache.mina.filter.codec.ProtocolEncoderAdapter;
import org.apache.mina.filter.codec.ProtocolEncoderOutput;

/** The {@link RecordCodec} as a MINA codec: {@link Record} objects above, framed bytes below. */
final class MinaRecordCodecFactory implements ProtocolCodecFactory {

    private static final AttributeKey PENDING = new AttributeKey(MinaRecordCodecFactory.class, "pending");
    /** Set when the connection ended inside a record: the reason, for the handler. */
    static final AttributeKey TRUNCATED = new AttributeKey(MinaRecordCodecFactory.class, "truncated");

    private final RecordCodec codec;
    private final TransportStats stats;
    private final ProtocolEncoder encoder = new Encoder();
    private final ProtocolDecoder decoder = new Decoder();

    MinaRecordCodecFactory(RecordCodec codec, TransportStats stats) {
        this.codec = codec;
        this.stats = stats;
    }

    @Override
    public ProtocolEncoder getEncoder(IoSession session) {
        return encoder;
    }

    @Override
    public ProtocolDecoder getDecoder(IoSession session) {
        return decoder;
    }

    private final class Encoder extends ProtocolEncoderAdapter {
        @Override
        public void encode(IoSession session, Object message, ProtocolEncoderOutput out) {
            Record record = (Record) message;
            Connection c = (Connection) session.getAttribute(Connection.KEY);
            if (c == null) {
                throw new IllegalStateException("no connection on " + session + " to send " + record);
            }
            byte[] frame = c.encode(codec, record);
            stats.recordsSent.increment();
            stats.bytesSent.add(frame.length);
            out.write(IoBuffer.wrap(frame));
        }
    }

    private final class Decoder extends CumulativeProtocolDecoder {
        @Override
        protected boolean doDecode(IoSession session, IoBuffer in, ProtocolDecoderOutput out) throws Exception {
            Record record;
            int before = in.position();
            Connection c = (Connection) session.getAttribute(Connection.KEY);
            if (c == null) {
                in.position(in.limit()); // a connection refused on arrival: it is being closed
                return false;
            }
            try {
                record = c.decode(codec, in.buf());
            } catch (MalformedRecordException e) {
                in.position(in.limit()); // discard everything: the connection is going down
                session.setAttribute(PENDING, 0);
                throw new ProtocolDecoderException(e.getMessage(), e);
            }
            if (record == null) {
                session.setAttribute(PENDING, in.remaining());
                return false;
            }
            stats.recordsReceived.increment();
            stats.bytesReceived.add(in.position() - before);
            session.setAttribute(PENDING, in.remaining());
            out.write(record);
            return true;
        }

        @Override
        public void finishDecode(IoSession session, ProtocolDecoderOutput out) {
            // ProtocolCodecFilter skips the handler's sessionClosed if this throws, so only leave a note.
            Integer pending = (Integer) session.removeAttribute(PENDING);
            if (pending != null && pending > 0) {
                session.setAttribute(TRUNCATED, "truncated record: the connection ended after " + pending
                        + " bytes of an incomplete record");
            }
        }
    }
}
