package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.ReplicaAcceptor;

/** Wraps a real transport and records when each ACK reached the primary, for the I1 checks. */
final class AckRecordingTransport implements CheckpointTransport {

    final Map<Long, Long> ackNanos = new ConcurrentHashMap<>();
    private final CheckpointTransport delegate;

    AckRecordingTransport(CheckpointTransport delegate) {
        this.delegate = delegate;
    }

    @Override
    public CheckpointChannel connect(InetSocketAddress peer, Hello hello, AckListener listener)
            throws CheckpointException, InterruptedException {
        return delegate.connect(peer, hello, new AckListener() {
            @Override
            public void acknowledged(long epoch) {
                ackNanos.putIfAbsent(epoch, System.nanoTime());
                listener.acknowledged(epoch);
            }

            @Override
            public void closed(Throwable cause) {
                listener.closed(cause);
            }
        });
    }

    @Override
    public void setAcceptor(ReplicaAcceptor acceptor) {
        delegate.setAcceptor(acceptor);
    }

    @Override
    public InetSocketAddress listenAddress() {
        return delegate.listenAddress();
    }

    @Override
    public List<ConnectionInfo> connections() {
        return delegate.connections();
    }
}
