package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.EpochTransfer;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;

/**
 * A checkpoint transport as it is, whose channels a test decorates ({@link #channel}) and whose ACKs it may watch
 * ({@link #acks}): for witnesses and fault injectors on the primary's side.
 */
class ForwardingTransport implements CheckpointTransport {

    final CheckpointTransport t;

    ForwardingTransport(CheckpointTransport t) {
        this.t = t;
    }

    /** Decorates a new channel; identity by default. */
    CheckpointChannel channel(CheckpointChannel c) {
        return c;
    }

    /** Decorates the primary's ACK listener; identity by default. */
    AckListener acks(AckListener l) {
        return l;
    }

    @Override
    public CheckpointChannel connect(InetSocketAddress peer, Hello hello, AckListener listener)
            throws CheckpointException, InterruptedException {
        return channel(t.connect(peer, hello, acks(listener)));
    }

    @Override
    public void setAcceptor(ReplicaAcceptor acceptor) {
        t.setAcceptor(acceptor);
    }

    @Override
    public InetSocketAddress listenAddress() {
        return t.listenAddress();
    }

    @Override
    public List<ConnectionInfo> connections() {
        return t.connections();
    }

    /** A channel as it is, for one method to be overridden. */
    static class Channel implements CheckpointChannel {

        final CheckpointChannel c;

        Channel(CheckpointChannel c) {
            this.c = c;
        }

        @Override
        public HelloReply peer() {
            return c.peer();
        }

        @Override
        public void sendPages(long epoch, long[] pfns, int from, int count, ByteBuffer pages)
                throws CheckpointException, InterruptedException {
            c.sendPages(epoch, pfns, from, count, pages);
        }

        @Override
        public void sendDiskWrites(long epoch, int disk, List<DiskWrite> writes)
                throws CheckpointException, InterruptedException {
            c.sendDiskWrites(epoch, disk, writes);
        }

        @Override
        public void sendDeviceState(long epoch, byte[] state) throws CheckpointException, InterruptedException {
            c.sendDeviceState(epoch, state);
        }

        @Override
        public EpochTransfer endEpoch(long epoch, boolean initial) throws CheckpointException, InterruptedException {
            return c.endEpoch(epoch, initial);
        }

        @Override
        public void prepareHandOver(long epoch) throws CheckpointException {
            c.prepareHandOver(epoch);
        }

        @Override
        public void handOver(long epoch) throws CheckpointException {
            c.handOver(epoch);
        }

        @Override
        public boolean isOpen() {
            return c.isOpen();
        }

        @Override
        public void abort(String reason) {
            c.abort(reason);
        }

        @Override
        public void close() {
            c.close();
        }
    }
}
