package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.PlannedStopException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The committer of a {@link BackupReplica}: it applies each epoch a {@link ReplicaStager} staged whole to the stream's
 * replica, checks it against the primary's memory digest when the primary asked for verification, commits the
 * epoch's disk writes, and makes the stream's replica the committed one at its first checkpoint. All of it runs under
 * the replica's lock, the lock failover takes, so an activation sees memory and disks of one and the same epoch. It
 * also settles what a stream leaves behind when it ends.
 */
final class ReplicaCommitter {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicaCommitter.class);

    private static final long STANDBY_RECHECK_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final BackupReplica r;
    /** The replica last offered a standby, and when (under the replica's lock). */
    private Replica standbyOffered;
    private long standbyOfferedAt;

    ReplicaCommitter(BackupReplica replica) {
        this.r = replica;
    }

    /**
     * Commits {@code epoch}, staged by {@code stream}; the transport acknowledges it when this returns. Afterwards the
     * replica's {@code onCommit} callback hears that the primary is alive. Whatever else is thrown on the way (an
     * {@link Error} too) raises an alarm and ends the stream ({@link CheckpointException}), never the committer
     * silently.
     */
    void commit(ReplicaStager stream, CommittedEpoch epoch, DeviceStateEnvelope envelope)
            throws CheckpointException {
        try {
            commitOrThrow(stream, epoch, envelope);
        } catch (RuntimeException | Error ex) {
            String why = "committing checkpoint " + epoch.epoch() + " failed: " + ex;
            LOG.error("The replica of {}: {}", r.id(), why, ex);
            alarm(why);
            throw new CheckpointException(why, ex);
        }
    }

    private void commitOrThrow(ReplicaStager stream, CommittedEpoch epoch, DeviceStateEnvelope envelope)
            throws CheckpointException {
        long e = epoch.epoch();
        Replica replica = stream.replica;
        synchronized (r.lock) {
            stream.checkLive();
            apply(replica, epoch, r.committed == replica);
            if (envelope.verify()) {
                verify(replica, e, envelope);
            }
            // the disks follow the memory before the ACK, and before failover can look (it takes this lock)
            for (BackupReplica.ReplicaDisk d : stream.disks) {
                try {
                    d.backup().commit(e);
                } catch (Exception | Error ex) {
                    String why = "disk " + d.disk().name() + " failed to commit checkpoint " + e + ": "
                            + ex.getMessage();
                    if (r.committed == replica) {
                        // memory is at this epoch and the disks are not all: nothing consistent is left here
                        r.diskFailure = why;
                        LOG.error("The replica of {} is no longer consistent: {}; it will not be activated", r.id(),
                                why, ex);
                        alarm(why + "; the replica is not activated until a new full copy replaces it");
                    }
                    throw new CheckpointException(why, ex);
                }
            }
            if (r.committed != replica) {
                r.dropPreparation(); // of the replica this one replaces
                Replica old = r.committed;
                var oldDisks = r.committedDisks;
                r.committed = replica;
                r.committedDisks = stream.disks;
                // what failed belonged to the replica this one replaces
                r.verifyFailure = null;
                r.applyFailure = null;
                r.diskFailure = null;
                if (old != null) {
                    old.close();
                }
                r.closeDisks(oldDisks);
                LOG.info("{} is protected here: first checkpoint {} committed", r.id(), e);
            }
            if (r.lastCommitter != stream) {
                // the stream's first commit: what the detail said of its start (a copy, a resume, a lost stream) ended
                r.lastCommitter = stream;
                r.show(ProtectionState.PROTECTED, "");
            }
            r.committedEpoch = e;
            r.committedPages = epoch.pageCount();
            offerStandby(replica, stream.disks);
        }
        r.onCommit.run();
    }

    /**
     * Applies {@code epoch} to {@code replica} (the {@code committed} one, or a new stream's), under the lock. An apply that does not finish, whatever it throws
     * (an {@link Error} too: a full tmpfs under the RAM file raises SIGBUS, which reaches Java as an
     * {@link InternalError} from the mapped buffer), may leave part of the epoch in the replica: the committed one is
     * then marked torn and not activated, resumed or forked until a new stream's full copy replaces it, and the
     * operator is alarmed. A new stream's replica that is not committed yet is dropped with the stream anyway.
     */
    private void apply(Replica replica, CommittedEpoch epoch, boolean committed) throws CheckpointException {
        long e = epoch.epoch();
        if (committed) {
            r.dropPreparation();
        }
        try {
            replica.applyCommitted(epoch);
        } catch (HypervisorException | RuntimeException | Error ex) {
            String why = "applying checkpoint " + e + " did not finish (" + ex + "): the replica may hold part of "
                    + "it and is not activated until a new full copy replaces it";
            if (committed) {
                r.applyFailure = why;
                LOG.error("The replica of {} is torn: {}", r.id(), why, ex);
                alarm(why);
            }
            throw new CheckpointException("applying epoch " + e + " of " + r.id() + " failed: " + ex, ex);
        }
    }

    /** Checks the applied replica against the primary's memory digest, under the lock. */
    private void verify(Replica replica, long e, DeviceStateEnvelope envelope) throws CheckpointException {
        int mine;
        try {
            mine = MemoryDigest.of(replica);
        } catch (HypervisorException ex) {
            throw new CheckpointException("verifying epoch " + e + " of " + r.id() + " failed: " + ex.getMessage(),
                    ex);
        }
        if (mine != envelope.memoryDigest()) {
            LOG.error("VERIFY FAILED: the replica of {} after checkpoint {} differs from the primary's"
                    + " memory (CRC32C {} here, {} there); refusing the checkpoint", r.id(), e,
                    Integer.toHexString(mine), Integer.toHexString(envelope.memoryDigest()));
            r.verifyFailure = "verification failed at checkpoint " + e + ": this replica is not activated";
            throw new CheckpointException("replica of " + r.id() + " differs from the primary after "
                    + "checkpoint " + e);
        }
        r.verifiedEpochs.incrementAndGet();
    }

    /** Raises a FAILED alarm; a failing listener does not hide the fault from the caller. */
    private void alarm(String why) {
        try {
            r.onFailure.accept(why);
        } catch (RuntimeException ex) {
            LOG.warn("raising the alarm for {} failed", r.id(), ex);
        }
    }

    /**
     * Offers the committed replica's binding to prepare its failover ({@link Replica#standby}) with the disks as
     * failover will attach them: at the replica's first commit, then at most once a second, so that a standby that
     * died is started again. Nothing is offered where a disk cannot be served before failover. Under the lock.
     */
    private void offerStandby(Replica replica, List<BackupReplica.ReplicaDisk> disks) {
        long now = System.nanoTime();
        if (replica == standbyOffered && now - standbyOfferedAt < STANDBY_RECHECK_NANOS) {
            return;
        }
        boolean first = replica != standbyOffered;
        standbyOffered = replica;
        standbyOfferedAt = now;
        List<GuestDisk> served = new ArrayList<>();
        for (BackupReplica.ReplicaDisk d : disks) {
            try {
                Optional<GuestDisk> s = d.backup().standby();
                if (s.isEmpty()) {
                    if (first) {
                        LOG.info("No standby for the failover of {}: its disk {} cannot be served before failover; "
                                + "failover starts the VM", r.id(), d.disk().name());
                    }
                    return;
                }
                served.add(s.get());
            } catch (Exception e) {
                LOG.warn("No standby for the failover of {}: serving its disk {} ahead of failover failed: {}", r.id(),
                        d.disk().name(), e.getMessage());
                return;
            }
        }
        try {
            replica.standby(served);
        } catch (RuntimeException e) {
            LOG.warn("Preparing the failover of {} failed: {}", r.id(), e.toString());
        }
    }

    /**
     * {@code stream} ended: its uncommitted writes are dropped, its replica closed unless it is the committed one, and
     * when it was the current stream the replica's state says what is left (and GOODBYE drops the replica).
     */
    void streamEnded(ReplicaStager stream, Throwable cause) {
        synchronized (r.lock) {
            boolean mine = stream.disks != r.committedDisks;
            // the committed disks' staged writes are this stream's only while no newer stream (a resumed one) uses them
            if (mine || (!r.isActivated() && (r.current == stream || r.current == null))) {
                r.discardUncommitted(stream.disks);
            }
            boolean current = r.current == stream;
            if (current) {
                r.current = null;
            }
            if (r.lastCommitter == stream) {
                r.lastCommitter = null; // the ended stream's staging (up to a checkpoint's size) goes with it
            }
            if (stream.replica != r.committed) {
                stream.replica.close();
            }
            if (mine) {
                r.closeDisks(stream.disks);
            }
            if (!current || r.isActivated()) {
                return;
            }
            if (r.committed != null) {
                r.show(ProtectionState.STANDBY, cause == null ? "the primary ended the stream"
                        : "stream lost: " + cause.getMessage());
            } else {
                r.show(ProtectionState.CONNECTING, "stream lost before the first checkpoint"
                        + (cause == null ? "" : ": " + cause.getMessage()));
            }
            long c = r.committedEpoch;
            if (cause == null) {
                LOG.info("The primary of {} ended protection; dropping the replica (checkpoint {})", r.id(), c);
                r.onOrderlyEnd.accept(r);
            } else if (cause instanceof PlannedStopException) {
                LOG.info("Stream of {} stopped by its primary for an update ({}); replica kept at checkpoint {}",
                        r.id(), cause.getMessage(), c);
                r.onPlannedStop.run();
            } else {
                LOG.warn("Stream of {} lost: {}; replica kept at checkpoint {}", r.id(), cause.getMessage(), c);
            }
        }
    }
}
