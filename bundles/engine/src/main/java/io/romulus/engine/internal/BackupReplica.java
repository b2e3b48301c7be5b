package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongConsumer;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.ReplicaSink;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backup side of one domain: its replica, and what the engine does with it. It receives one stream at a time,
 * each through a {@link ReplicaStager}; the first epoch of a stream is the initial full copy, written straight into a
 * fresh replica; every later epoch is staged whole and applied by the {@link ReplicaCommitter} only on a verified
 * EPOCH_END, then acknowledged (the transport sends the ACK when the stager's {@code epochEnd} returns).
 *
 * <p>A new stream (after a link failure, or a new primary) builds a new replica; the replica of the previous stream
 * stays the one failover uses until the new one has committed its first checkpoint (invariant I2 across resyncs).
 *
 * <p>Disks go with the replica: each stream gets the backup side of every disk the primary announced. The initial
 * copy's chunks are written straight to it; the writes of a checkpoint are staged and applied at its commit, after
 * its memory and under the lock failover takes, so that an activation sees memory and disks of the same epoch; a
 * stream that ends drops the staged writes of the epoch it did not complete.
 *
 * <p>Resuming: a primary that lost its stream (a bundle update on either side, a short outage) may ask to resume.
 * When the replica belongs to the same lineage and committed an epoch the primary can continue from, the new stream
 * goes straight into the committed replica, without an initial copy. The replica also survives an update of its
 * binding (the next version adopts it) and of the engine (handed over, see {@link ReplicaHandOver}).
 *
 * <p>A planned switchover to this node ("prepare", "go", an abort, the frames handed over with the domain) is the
 * job of its {@link BackupSwitchover}, to which the replica's switchover methods delegate.
 *
 * <p>Locking: {@link #lock} is held wherever the committed replica, its disks or the current stream change, and by
 * failover, so nothing is activated, forked or handed over in the middle of an apply.
 */
final class BackupReplica {

    private static final Logger LOG = LoggerFactory.getLogger(BackupReplica.class);
    /** Checkpoints whose CPU time is kept: all of the status's window at intervals from 5 ms, else the last ones. */
    private static final int CPU_HISTORY = 1024;

    /** What a replica hands to the next engine: plain data; the binding keeps the replica itself. */
    record HandedOver(DomainId id, String lineage, long committedEpoch, String primaryNode, Map<String, String> options,
            String returnAddress, long memoryBytes, int pageSize) {
    }

    /** One disk of a replica: as the primary announced it, and its backup side. */
    record ReplicaDisk(GuestDisk disk, DiskReplicator.Backup backup) {
    }

    /** The apply lock: see the class comment. */
    final Object lock = new Object();
    private final DomainId id;
    final Consumer<BackupReplica> onOrderlyEnd;
    final Runnable onCommit;
    final Runnable onPlannedStop;
    /** An old primary's stream is refused because the replica was activated here: the domain is announced again. */
    final Runnable onTakenOver;
    /** The committed replica became unusable (a fault while applying): the operator is alarmed (FAILED) with why. */
    final Consumer<String> onFailure;
    /** The primary handed the domain over at the given checkpoint (switchover): the engine activates the replica. */
    final LongConsumer onHandOver;
    private final ReplicaCommitter committer = new ReplicaCommitter(this);
    /** The engine's own CPU time per committed checkpoint, which the streams measure ({@link ReplicaStager}). */
    final CheckpointCpu cpu = new CheckpointCpu(CPU_HISTORY);
    private final long stagingSegmentBytes;

    @GuardedBy("lock")
    Replica committed;          // the replica failover uses; null until a first commit
    @GuardedBy("lock")
    List<ReplicaDisk> committedDisks = List.of(); // its disks
    @GuardedBy("lock")
    ReplicaStager current;
    /** The stream whose checkpoint was committed last: the first commit of a new one clears the detail. */
    @GuardedBy("lock")
    ReplicaStager lastCommitter;
    @GuardedBy("lock")
    String lineage;
    @GuardedBy("lock")
    Map<String, String> options = Map.of();
    @GuardedBy("lock")
    String returnAddress;
    /** The replica was kept by a switchover's old primary, and the new primary has not resumed it yet. */
    private final AtomicBoolean awaitingNewPrimary = new AtomicBoolean();
    /** What the replica does in a planned switchover to this node. */
    private final BackupSwitchover switchover;

    // Written under the lock, but read without it: status and the engine's checks must not wait for an apply or an
    // activation in progress, and each of these is read on its own.
    volatile long committedEpoch = -1;
    volatile int committedPages;
    final AtomicLong verifiedEpochs = new AtomicLong();
    volatile ProtectionState state = ProtectionState.SYNCING;
    volatile String detail = "";
    volatile String primaryNode = "";
    private volatile boolean activated;
    /** The binding of the committed replica went away (bundle update): no apply and no failover until adopted. */
    volatile boolean replicaAway;
    /** Why the committed replica failed verification, or null: it is not activated, until a new one replaces it. */
    volatile String verifyFailure;
    /** Why the committed replica's disks are not consistent, or null: not activated until a new one replaces it. */
    volatile String diskFailure;
    /**
     * Why an apply to the committed replica did not finish, or null: it may hold part of an epoch (torn), so it is
     * not activated, resumed or forked until a new one (a full copy) replaces it.
     */
    volatile String applyFailure;

    /**
     * @param onOrderlyEnd  called when the primary ends the stream with GOODBYE (protection stopped there), so the
     *                      engine can drop this replica
     * @param onCommit      called after each committed checkpoint: the primary is alive (failure detection)
     * @param onPlannedStop called when the primary stops the stream for an update of its own (failover holds back a
     *                      while)
     * @param onFailure     called with the reason when the committed replica becomes unusable through a fault (an
     *                      apply that did not finish), to raise an alarm
     * @param outputAttacher attaches an output buffer to an interface a switchover's prepared activation will run
     *                       with
     * @param streamBackOpener opens the stream back to the primary at a switchover's "prepare"
     * @param stagingSegmentBytes the size of a segment of a stream's staging ({@link StagingBuffer})
     */
    BackupReplica(DomainId id, Consumer<BackupReplica> onOrderlyEnd, Runnable onCommit, Runnable onPlannedStop,
            Runnable onTakenOver, Consumer<String> onFailure, LongConsumer onHandOver,
            PreparedOutputs.Attacher outputAttacher, PreOpenedStream.Opener streamBackOpener,
            long stagingSegmentBytes) {
        this.stagingSegmentBytes = stagingSegmentBytes;
        this.switchover = new BackupSwitchover(this, id, outputAttacher, streamBackOpener);
        this.id = id;
        this.onHandOver = onHandOver;
        this.onTakenOver = onTakenOver;
        this.onFailure = onFailure;
        this.onOrderlyEnd = onOrderlyEnd;
        this.onCommit = onCommit;
        this.onPlannedStop = onPlannedStop;
    }

    DomainId id() {
        return id;
    }

    long committedEpoch() {
        return committedEpoch;
    }

    /** The binding options of the domain, as its primary opened it. */
    Map<String, String> options() {
        synchronized (lock) {
            return options;
        }
    }

    /** What the committed replica is of, when it has one and no disks; else null. */
    ReplicaSpec specWithoutDisks() {
        synchronized (lock) {
            return committed == null || !committedDisks.isEmpty() ? null : committed.spec();
        }
    }

    /** A switchover's old primary keeps this replica: the new primary resumes it while it activates the domain. */
    void awaitNewPrimary() {
        awaitingNewPrimary.set(true);
    }

    /** Whether this replica was kept by a switchover's old primary, and the new primary committed nothing yet. */
    boolean awaitsNewPrimary() {
        return awaitingNewPrimary.get();
    }

    /** Whether this is the new primary's first commit into a replica kept by a switchover; forgets it. */
    boolean takeAwaitingNewPrimary() {
        return awaitingNewPrimary.getAndSet(false);
    }

    /** The lineage of the stream that feeds (or last fed) the replica, or null. */
    String lineage() {
        synchronized (lock) {
            return lineage;
        }
    }

    /** Where the primary's stream listens, {@code host:port}, or null if it did not say. */
    String returnAddress() {
        synchronized (lock) {
            return returnAddress;
        }
    }

    /**
     * Sets what {@code romulus:status} shows of the stream: what the replica's own condition says (binding away, a
     * failed verification or disk) is derived in {@link #status()}, so it ends with its cause.
     */
    void show(ProtectionState newState, String newDetail) {
        state = newState;
        detail = newDetail;
    }

    void showDetail(String newDetail) {
        detail = newDetail;
    }

    /**
     * A new stream from {@code primaryNodeId} into a new replica. Any previous stream is cut off.
     *
     * @param disks          the backup side of each disk the primary announced, in index order
     * @param bindingOptions the options the primary opened the domain with
     * @param returnAddress  where the primary's own stream listens ({@code host:port}), or null
     */
    ReplicaSink newStream(String primaryNodeId, String streamLineage, Replica replica, List<ReplicaDisk> disks,
            Map<String, String> bindingOptions, String returnAddress) throws CheckpointException {
        synchronized (lock) {
            this.lineage = streamLineage;
            this.options = Map.copyOf(bindingOptions);
            this.returnAddress = returnAddress;
            if (activated) {
                replica.close();
                closeDisks(disks);
                throw new DomainTakenOverException("the replica of " + id + " was activated on this node; it no "
                        + "longer accepts checkpoints");
            }
            return startStream(new ReplicaStager(this, committer, replica, disks, false, stagingSegmentBytes),
                    primaryNodeId, ProtectionState.SYNCING, "receiving the initial copy");
        }
    }

    /**
     * Resumes the committed replica with a new stream of the same lineage, when it committed an epoch from
     * {@code from} to {@code to}: the stream's first checkpoint goes straight into it. Returns null when it cannot be
     * resumed (then the primary's stream starts with an initial copy).
     */
    ReplicaSink resumeStream(String primaryNodeId, String streamLineage, long from, long to, List<GuestDisk> disks,
            Map<String, String> bindingOptions, String returnAddress) {
        synchronized (lock) {
            long c = committedEpoch;
            if (activated || committed == null || unusable() != null
                    || streamLineage == null || !streamLineage.equals(lineage) || c < from || c > to
                    || !sameDisks(disks)) {
                return null;
            }
            cutStream();
            discardUncommitted(committedDisks);
            this.options = Map.copyOf(bindingOptions);
            this.returnAddress = returnAddress;
            ReplicaStager sink = startStream(new ReplicaStager(this, committer, committed, committedDisks, true,
                    stagingSegmentBytes), primaryNodeId, ProtectionState.PROTECTED, "stream resumed at checkpoint " + c);
            LOG.info("Stream of {} from {} resumed at checkpoint {} (no initial copy)", id, primaryNodeId, c);
            return sink;
        }
    }

    @GuardedBy("lock")
    private ReplicaStager startStream(ReplicaStager sink, String primaryNodeId, ProtectionState newState,
            String newDetail) {
        cutStream();
        current = sink;
        switchover.forgetRelayed();
        primaryNode = primaryNodeId;
        show(newState, newDetail);
        return sink;
    }

    /** The current stream, if any, takes no more records; returns it. */
    @GuardedBy("lock")
    ReplicaStager cutStream() {
        ReplicaStager s = current;
        if (s != null) {
            s.superseded = true;
        }
        return s;
    }

    @GuardedBy("lock")
    private boolean sameDisks(List<GuestDisk> disks) {
        if (disks.size() != committedDisks.size()) {
            return false;
        }
        for (int i = 0; i < disks.size(); i++) {
            GuestDisk mine = committedDisks.get(i).disk();
            GuestDisk theirs = disks.get(i);
            if (!mine.name().equals(theirs.name()) || !mine.kind().equals(theirs.kind())
                    || mine.sizeBytes() != theirs.sizeBytes()) {
                return false;
            }
        }
        return true;
    }

    /** The initial copy of the current stream is in ({@code pages} pages); the first checkpoint comes next. */
    void initialCopyReceived(int pages) {
        synchronized (lock) {
            detail = "initial copy received; waiting for the first checkpoint";
        }
        LOG.info("Initial copy of {} received from {} ({} pages)", id, primaryNode, pages);
    }

    /** The binding of this replica, whether it waits for a new version of it. */
    String binding() {
        return id.binding();
    }

    boolean awaitsBinding() {
        return replicaAway;
    }

    /** The binding of the replica is going away: the stream is cut (the primary resumes it once adopted). */
    void bindingGone() {
        ReplicaHandOver.bindingGone(this);
    }

    /**
     * The new version of the binding adopts the replica ({@code adopter} returns it, or empty): everything else
     * stays; without it nothing consistent is left here and the replica is dropped.
     */
    boolean adoptReplica(Function<ReplicaSpec, Optional<Replica>> adopter) {
        return ReplicaHandOver.adopt(this, adopter);
    }

    /**
     * The engine is being updated: cuts the stream and lets go of the replica without dropping it. Returns what the
     * next engine needs, or null when nothing can be handed over (no committed replica, activated, or disks, whose
     * backup sides end with this engine), after dropping it.
     */
    HandedOver handOver() {
        return ReplicaHandOver.handOver(this);
    }


    /** Why the committed replica cannot be activated, resumed or forked now, or null. */
    String unusable() {
        if (replicaAway) {
            return "the binding went away (bundle update); waiting for its next version to adopt the replica";
        }
        String v = verifyFailure;
        if (v != null) {
            return v;
        }
        String a = applyFailure;
        return a != null ? a : diskFailure;
    }

    /**
     * One line for {@code romulus:status}: the stream's state and detail, unless the replica's own condition
     * overrides them. A replica that failed verification, was torn by an apply that did not finish or lost its disks'
     * consistency shows FAILED, except while a new stream's initial copy builds the replica that replaces it.
     */
    ProtectionStatus status() {
        ProtectionState st = state;
        String d = detail;
        String unusable = unusable();
        if (unusable != null && st != ProtectionState.ACTIVATED && st != ProtectionState.STOPPED) {
            if (replicaAway) {
                d = unusable; // the stream was cut for the update: what it said of its end is beside the point
            } else {
                st = st == ProtectionState.SYNCING ? st : ProtectionState.FAILED;
                d = PrimaryStatus.join(unusable, d);
            }
        }
        long verified = verifiedEpochs.get();
        if (verified > 0) {
            d = PrimaryStatus.join(d, "verified " + verified + " checkpoints against the primary's memory");
        }
        return new ProtectionStatus(id.toString(), Role.BACKUP, st, Math.max(0, committedEpoch), 0, 0,
                committedPages, 0, primaryNode, d, 0, "", cpu.summary(System.currentTimeMillis()));
    }

    /** "prepare": see {@link BackupSwitchover#prepare}. */
    CompletableFuture<Void> prepareSwitchover(ReplicaStager stream, long epoch) throws CheckpointException {
        return switchover.prepare(stream, epoch);
    }

    /** See {@link BackupSwitchover#takeStreamBack}. */
    PreOpenedStream takeStreamBack() {
        return switchover.takeStreamBack();
    }

    /** An abort: see {@link BackupSwitchover#dropPreparation}. */
    void dropPreparation() {
        switchover.dropPreparation();
    }

    /** See {@link BackupSwitchover#dropOutputs}. */
    void dropPreparedOutputs(String why) {
        switchover.dropOutputs(why);
    }

    /** The frames "go" carries: see {@link BackupSwitchover#relayed}. */
    void relayed(ReplicaStager stream, List<InboundFrame> frames) {
        switchover.relayed(stream, frames);
    }

    /** See {@link BackupSwitchover#takeRelayedFrames}. */
    List<InboundFrame> takeRelayedFrames() {
        return switchover.takeRelayedFrames();
    }

    /** "go": see {@link BackupSwitchover#handedOver}. */
    void handedOver(ReplicaStager stream, long epoch) {
        switchover.handedOver(stream, epoch);
    }

    /** See {@link BackupSwitchover#wish}. */
    void wishSwitchover() {
        switchover.wish();
    }

    /** See {@link BackupSwitchover#takeWish}. */
    boolean takeSwitchoverWish(ReplicaStager stream) {
        return switchover.takeWish(stream);
    }

    /**
     * What {@link #activate(boolean)} started: the domain, whether it is still paused, and the output buffers a
     * switchover's "prepare" attached to the interfaces it was to run with (or null), which its protection takes.
     */
    record Activated(ProtectedDomain domain, boolean paused, PreparedOutputs outputs) {

        /** The buffers attached ahead, for the caller to own (none if there were none, or attaching failed). */
        List<PrimaryProtection.Output> takeOutputs() throws InterruptedException {
            return outputs == null ? List.of() : outputs.take(PREPARED_OUTPUTS_WAIT_MS);
        }

        /** The domain is not protected here: the buffers attached ahead, not taken, are closed. */
        void closeOutputs(String why) {
            if (outputs != null) {
                outputs.close(why);
            }
        }
    }

    /** How long the protection of an activated domain waits for output buffers still being attached ahead. */
    static final long PREPARED_OUTPUTS_WAIT_MS = 10_000;

    /**
     * Failover, or a switchover: cuts off the stream and brings the last committed epoch to life on this node. Waits
     * for an apply in progress; never activates half an epoch. With {@code paused} (a switchover) the binding is
     * asked to leave the domain paused; one that cannot starts it running.
     */
    Activated activate(boolean paused) throws HypervisorException {
        switchover.awaitPreparation();
        synchronized (lock) {
            switchover.cancelPreparation();
            if (activated) {
                throw new IllegalStateException("the replica of " + id + " is already activated");
            }
            if (committed == null) {
                throw new HypervisorException("the replica of " + id + " has no committed checkpoint yet; "
                        + "there is nothing consistent to activate");
            }
            if (verifyFailure != null) {
                throw new HypervisorException("the replica of " + id + " failed verification; it is not activated");
            }
            if (replicaAway) {
                throw new HypervisorException("the replica of " + id + " waits for the next version of its '"
                        + id.binding() + "' binding (bundle update); activate it once that version is up");
            }
            if (applyFailure != null) {
                throw new HypervisorException("the replica of " + id + " is not activated: " + applyFailure);
            }
            if (diskFailure != null) {
                throw new HypervisorException("the replica of " + id + " is not activated: " + diskFailure);
            }
            activated = true;
            cutStream();
            PreparedOutputs outputs = switchover.activated(paused);
            try {
                return start(paused, outputs);
            } catch (HypervisorException | RuntimeException e) {
                if (outputs != null) {
                    outputs.close("the activation failed");
                }
                throw e;
            }
        }
    }

    /** Activates the committed replica with its disks: see {@link #activate(boolean)}. */
    @GuardedBy("lock")
    private Activated start(boolean paused, PreparedOutputs outputs) throws HypervisorException {
        List<GuestDisk> disks = new ArrayList<>();
        for (ReplicaDisk d : committedDisks) {
            try {
                disks.add(d.backup().activate());
            } catch (Exception e) {
                throw new HypervisorException("activating disk " + d.disk().name() + " of " + id + " failed: "
                        + e.getMessage(), e);
            }
        }
        ProtectedDomain running = null;
        if (paused) {
            try {
                running = committed.activatePaused(disks);
            } catch (HypervisorException e) {
                LOG.info("{}: {}; it is activated running, and the old primary gets a full copy", id,
                        e.getMessage());
            }
        }
        boolean stillPaused = running != null;
        if (running == null) {
            running = committed.activate(disks);
        }
        show(ProtectionState.ACTIVATED, "activated from checkpoint " + committedEpoch
                + (paused ? " (switchover)" : ""));
        LOG.info("{}: {} activated on this node from checkpoint {}{}", paused ? "SWITCHOVER" : "FAILOVER", id,
                committedEpoch, disks.isEmpty() ? "" : " with disks " + String.join(", ",
                        disks.stream().map(GuestDisk::name).toList()));
        return new Activated(running, stillPaused, outputs);
    }

    /**
     * Scale-out: starts {@code clone} from the last committed epoch of this replica, which stays the domain's backup
     * (the binding copies the replica between two applies, so the clone never sees half an epoch).
     */
    ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        Replica r;
        synchronized (lock) {
            if (activated) {
                throw new IllegalStateException("the replica of " + id + " was activated: " + id + " runs here, "
                        + "and a clone is started from a replica");
            }
            if (committed == null) {
                throw new IllegalStateException("the replica of " + id + " has no committed checkpoint yet; wait "
                        + "until romulus:status shows it PROTECTED");
            }
            String unusable = unusable();
            if (unusable != null) {
                throw new IllegalStateException("the replica of " + id + " is not usable for a clone: " + unusable);
            }
            r = committed;
        }
        // not under the lock: starting the clone takes a while, and the primary waits for ACKs meanwhile
        return r.fork(clone, overrides);
    }

    /** Drops everything (the primary ended protection, or the engine stops). */
    void close() {
        synchronized (lock) {
            switchover.drop("the replica is dropped");
            ReplicaStager s = cutStream();
            if (s != null && s.replica != committed) {
                s.replica.close();
                closeDisks(s.disks);
            }
            if (committed != null && !activated) {
                committed.close();
                closeDisks(committedDisks);
            }
            committed = null;
            committedDisks = List.of();
            state = ProtectionState.STOPPED;
        }
    }

    boolean isActivated() {
        return activated;
    }

    void closeDisks(List<ReplicaDisk> disks) {
        eachDisk(disks, "Closing the replica", DiskReplicator.Backup::close);
    }

    /** Drops the staged writes of the epoch in progress on {@code disks}. */
    void discardUncommitted(List<ReplicaDisk> disks) {
        eachDisk(disks, "Dropping the uncommitted writes", DiskReplicator.Backup::discardUncommitted);
    }

    /** Does {@code action} to the backup side of each of {@code disks}; one that fails is logged, not thrown. */
    private void eachDisk(List<ReplicaDisk> disks, String what, Consumer<DiskReplicator.Backup> action) {
        for (ReplicaDisk d : disks) {
            try {
                action.accept(d.backup());
            } catch (RuntimeException e) {
                LOG.warn("{} of disk {} of {} failed", what, d.disk().name(), id, e);
            }
        }
    }
}
