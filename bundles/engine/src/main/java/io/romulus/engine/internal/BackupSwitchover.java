package io.romulus.engine.internal;

import java.util.List;
import java.util.concurrent.CompletableFuture;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.CheckpointException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a {@link BackupReplica} does in a planned switchover (ARCHITECTURE.md section 6), step by step: on "prepare"
 * it checks that the replica can be activated from exactly the primary's final checkpoint, has its binding prepare
 * that activation ({@link SwitchoverPreparation}) and opens the stream back to the primary, and answers "ready"; the
 * frames that reached the primary's paused copy, which "go" carries, are kept for the domain activated here; on "go"
 * the engine is told to activate the replica, and that activation waits for the preparation, takes its output
 * buffers and its stream back. A checkpoint applied after "prepare" (an abort) takes the preparation back. It also
 * carries an operator's wish for a switchover asked on this node to the primary.
 *
 * <p>It owns the preparation, the kept frames and the wish; all of it is guarded by the replica's lock, which each
 * step takes, so that no checkpoint is applied, nothing activated and no stream started in the middle of one.
 */
final class BackupSwitchover {

    private static final Logger LOG = LoggerFactory.getLogger(BackupSwitchover.class);

    private final BackupReplica r;
    private final DomainId id;
    /** Opens the stream back to the primary at "prepare". */
    private final PreOpenedStream.Opener streamBackOpener;
    /** What "prepare" prepared here. */
    @GuardedBy("r.lock")
    private final SwitchoverPreparation preparation;
    /** What the primary's copy was sent while paused for the switchover that handed the domain here. */
    @GuardedBy("r.lock")
    private List<InboundFrame> relayed = List.of();
    /** The operator asked here for a switchover, which the next ACK carries to the primary. */
    @GuardedBy("r.lock")
    private boolean wished;

    /**
     * @param outputAttacher   attaches an output buffer to an interface a prepared activation will run with
     * @param streamBackOpener opens the stream back to the primary at "prepare"
     */
    BackupSwitchover(BackupReplica replica, DomainId id, PreparedOutputs.Attacher outputAttacher,
            PreOpenedStream.Opener streamBackOpener) {
        this.r = replica;
        this.id = id;
        this.streamBackOpener = streamBackOpener;
        this.preparation = new SwitchoverPreparation(id, replica.lock, outputAttacher);
    }

    /**
     * "prepare", the primary's first step: it paused the domain at checkpoint {@code epoch}, which this replica
     * acknowledged; throws with why when the replica cannot be activated from exactly that checkpoint, or the primary
     * could not be made its backup afterwards. The future it returns answers "ready" when it completes: once the
     * binding moved the guest's addresses here (or its preparation ended; at once where nothing is prepared), so that
     * the primary stops its copy, which keeps what reaches it until then, only once its host no longer receives the
     * guest's traffic. Completed exceptionally, it answers "refused".
     */
    CompletableFuture<Void> prepare(ReplicaStager stream, long epoch) throws CheckpointException {
        synchronized (r.lock) {
            if (r.current != stream || r.isActivated()) {
                throw new CheckpointException("this stream no longer feeds the replica of " + id);
            }
            if (r.committed == null || r.committedEpoch != epoch) {
                throw new CheckpointException("the replica of " + id + " is at checkpoint " + r.committedEpoch
                        + ", not " + epoch);
            }
            String u = r.unusable();
            if (u != null) {
                throw new CheckpointException("the replica of " + id + " cannot be activated: " + u);
            }
            if (r.returnAddress == null) {
                throw new CheckpointException("the primary did not say where its stream listens, so it could not "
                        + "become the backup of " + id);
            }
            // the binding may prepare the activation now, on a thread of its own, so that "go" only lets the domain
            // run; "ready" waits for it to move the guest's addresses here. Replicas with disks are activated as
            // before, and ready at once
            CompletableFuture<Void> ready = CompletableFuture.completedFuture(null);
            if (r.committedDisks.isEmpty()) {
                ready = preparation.prepare(r.committed, epoch,
                        () -> r.showDetail("switchover to this node prepared at checkpoint " + epoch));
            }
            // the stream back to the primary, which becomes this node's backup, opens now: the primary answers its
            // HELLO once it stopped its copy, so that the stream is up when "go" arrives
            preparation.streamBack(streamBackOpener.open(r, epoch));
            return ready;
        }
    }

    /** The stream back to the primary that "prepare" opened, or null, for the take-over to own. */
    PreOpenedStream takeStreamBack() {
        synchronized (r.lock) {
            return preparation.takeStreamBack();
        }
    }

    /**
     * A checkpoint is about to be applied to the committed replica: a switchover prepared at an earlier one did not
     * happen (an abort), and the binding takes its preparation back.
     */
    void dropPreparation() {
        synchronized (r.lock) {
            preparation.drop(r.committed);
        }
    }

    /** Closes the output buffers "prepare" attached, if any (they held nothing). */
    void dropOutputs(String why) {
        synchronized (r.lock) {
            preparation.dropOutputs(why);
        }
    }

    /** The replica is dropped: a preparation not started yet does not start, and what "prepare" opened is closed. */
    void drop(String why) {
        synchronized (r.lock) {
            preparation.cancel();
            preparation.dropOutputs(why);
            preparation.dropStreamBack(why);
        }
    }

    /**
     * The frames that reached the primary's copy while it was paused for the switchover, which {@code stream} handed
     * over with the domain ("go"): the domain activated from this replica is given them ({@link #takeRelayedFrames}).
     */
    void relayed(ReplicaStager stream, List<InboundFrame> frames) {
        synchronized (r.lock) {
            if (r.current == stream && !r.isActivated()) {
                relayed = List.copyOf(frames);
            }
        }
    }

    /** A new stream feeds the replica: the frames a previous one handed over are not for it. */
    void forgetRelayed() {
        synchronized (r.lock) {
            relayed = List.of();
        }
    }

    /** The frames {@link #relayed} to the domain activated from this replica, once; none after the first call. */
    List<InboundFrame> takeRelayedFrames() {
        synchronized (r.lock) {
            List<InboundFrame> frames = relayed;
            relayed = List.of();
            return frames;
        }
    }

    /**
     * "go", the primary's last step: its copy stopped for good at checkpoint {@code epoch}, which {@code stream}
     * prepared; the engine activates the replica (on its failover thread, not the transport's).
     */
    void handedOver(ReplicaStager stream, long epoch) {
        synchronized (r.lock) {
            if (r.current != stream || r.isActivated() || r.committedEpoch != epoch) {
                LOG.error("{}: the primary handed the domain over at checkpoint {}, which this replica cannot take "
                        + "(committed {}, activated {}); failure detection decides", id, epoch, r.committedEpoch,
                        r.isActivated());
                return;
            }
            r.show(ProtectionState.STANDBY, "the primary handed the domain over at checkpoint " + epoch
                    + "; activating it here");
        }
        r.onHandOver.accept(epoch);
    }

    /**
     * The activation of the replica ("go", or a failover) waits, without the lock, for a preparation that "ready"
     * answered before it ended: that goes on here, not beside the activation.
     */
    void awaitPreparation() throws HypervisorException {
        CompletableFuture<Void> loading;
        synchronized (r.lock) {
            loading = preparation.loading();
        }
        try {
            long waited = SwitchoverPreparation.awaitLoad(loading);
            if (waited > 0) {
                LOG.info("{}: the activation waited {} ms for the switchover's preparation to end", id, waited);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("interrupted while the switchover's preparation of " + id + " went on", e);
        }
    }

    /** A preparation that has not started yet does not: the replica is being activated. */
    void cancelPreparation() {
        synchronized (r.lock) {
            preparation.cancel();
        }
    }

    /**
     * The replica is activated, by a switchover ({@code paused}) or a failover (which has no use for the stream back
     * "prepare" opened): returns the output buffers "prepare" attached, or null, for the domain's protection to own.
     */
    PreparedOutputs activated(boolean paused) {
        synchronized (r.lock) {
            if (!paused) {
                preparation.dropStreamBack("the replica is activated by a failover, not a switchover");
            }
            return preparation.takeOutputs();
        }
    }

    /**
     * The operator asks for a switchover on this node, the backup: the next ACK asks the primary for it (the primary
     * then hands the domain over as if asked there). Throws when no stream from the primary could carry the wish.
     */
    void wish() {
        synchronized (r.lock) {
            if (r.isActivated()) {
                throw new IllegalStateException("the replica of " + id + " was activated: " + id + " runs here");
            }
            if (r.current == null || r.committed == null || r.state != ProtectionState.PROTECTED) {
                throw new IllegalStateException("no stream from the primary of " + id + " is up (" + r.state
                        + (r.detail.isEmpty() ? "" : ": " + r.detail) + "); run romulus:switchover on the primary "
                        + r.primaryNode + " once it is PROTECTED");
            }
            wished = true;
        }
    }

    /** Whether {@code stream}'s next ACK is to carry the operator's wish for a switchover; forgets it once said. */
    boolean takeWish(ReplicaStager stream) {
        synchronized (r.lock) {
            if (r.current != stream || !wished) {
                return false;
            }
            wished = false;
            return true;
        }
    }
}
