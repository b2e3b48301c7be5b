package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.EpochTransfer;

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
        BEFORE_ACK,
        /**
         * after some of a checkpoint's disk writes reached the backup (30 ms after they were queued), before its
         * EPOCH_END: the backup holds writes of an epoch that will never commit
         */
        DISK_WRITES
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
        return new ForwardingTransport(t) {
            @Override
            CheckpointChannel channel(CheckpointChannel c) {
                return new ForwardingTransport.Channel(c) {
                    @Override
                    public void sendPages(long epoch, long[] pfns, int from, int count, ByteBuffer pages)
                            throws CheckpointException, InterruptedException {
                        at(Phase.TRANSFER, epoch);
                        super.sendPages(epoch, pfns, from, count, pages);
                    }

                    @Override
                    public void sendDiskWrites(long epoch, int disk, List<DiskWrite> writes)
                            throws CheckpointException, InterruptedException {
                        super.sendDiskWrites(epoch, disk, writes);
                        if (phase == Phase.DISK_WRITES && armed.get() && !fired.get() && !writes.isEmpty()) {
                            Thread.sleep(30);
                            at(Phase.DISK_WRITES, epoch);
                        }
                    }

                    @Override
                    public EpochTransfer endEpoch(long epoch, boolean initial)
                            throws CheckpointException, InterruptedException {
                        EpochTransfer transfer = super.endEpoch(epoch, initial);
                        if (!initial) {
                            at(Phase.BEFORE_ACK, epoch);
                        }
                        return transfer;
                    }
                };
            }
        };
    }
}
