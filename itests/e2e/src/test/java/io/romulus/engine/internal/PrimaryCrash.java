package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.EpochTransfer;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;

/**
 * Kills the primary host at a chosen phase of an epoch: its QEMU gets SIGKILL and its link to the backup is reset, so
 * nothing more leaves it. Armed once protection is established; fires once, at the first epoch of that phase after
 * {@link #arm()}.
 */
final class PrimaryCrash {

    /** Where in the epoch the primary dies. */
    enum Phase {
        /** while the guest runs between two checkpoints (fired by the test) */
        RUN,
        /** with the guest paused for the checkpoint, before its pages are copied */
        PAUSE,
        /** while the pages of a checkpoint are on their way */
        TRANSFER,
        /** after a checkpoint's EPOCH_END left, before its ACK came back */
        BEFORE_ACK
    }

    final Phase phase;
    private final Runnable kill;
    private final AtomicBoolean armed = new AtomicBoolean();
    private final AtomicBoolean fired = new AtomicBoolean();
    volatile long firedInEpoch = -1;

    PrimaryCrash(Phase phase, Runnable kill) {
        this.phase = phase;
        this.kill = kill;
    }

    void arm() {
        armed.set(true);
    }

    boolean fired() {
        return fired.get();
    }

    /** Fires now if armed (the RUN phase, from the test). */
    void fire(long epoch) {
        if (armed.get() && fired.compareAndSet(false, true)) {
            firedInEpoch = epoch;
            kill.run();
        }
    }

    private void at(Phase p, long epoch) {
        if (p == phase) {
            fire(epoch);
        }
    }

    Hypervisor binding(Hypervisor h) {
        return new ForwardingHypervisor(h) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new ForwardingDomain(h.open(id, options)) {
                    @Override
                    public void pause() throws HypervisorException {
                        super.pause();
                        at(Phase.PAUSE, -1);
                    }
                };
            }
        };
    }

    CheckpointTransport transport(CheckpointTransport t) {
        return new CheckpointTransport() {
            @Override
            public CheckpointChannel connect(InetSocketAddress peer, Hello hello, AckListener listener)
                    throws CheckpointException, InterruptedException {
                return new Channel(t.connect(peer, hello, listener));
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
        };
    }

    private final class Channel implements CheckpointChannel {

        private final CheckpointChannel c;

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
            at(Phase.TRANSFER, epoch);
            c.sendPages(epoch, pfns, from, count, pages);
        }

        @Override
        public void sendDeviceState(long epoch, byte[] state) throws CheckpointException, InterruptedException {
            c.sendDeviceState(epoch, state);
        }

        @Override
        public EpochTransfer endEpoch(long epoch, boolean initial) throws CheckpointException, InterruptedException {
            EpochTransfer t = c.endEpoch(epoch, initial);
            if (!initial) {
                at(Phase.BEFORE_ACK, epoch);
            }
            return t;
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
