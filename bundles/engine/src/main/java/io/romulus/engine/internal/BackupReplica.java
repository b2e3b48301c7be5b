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
    /** What the primary's copy was sent while paused for the switchover that handed the domain here. */
    @GuardedBy("lock")
    private List<InboundFrame> relayed = List.of();
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
    /** What a switchover's "prepare" prepared here. */
    @GuardedBy("lock")
    private final SwitchoverPreparation preparation;
    /** Opens the stream back to the primary at a switchover's "prepare". */
    private final PreOpenedStream.Opener streamBackOpener;
    /** The operator asked here for a switchover, which the next ACK carries to the primary. */
    @GuardedBy("lock")
    private boolean switchoverWished;

    // Written under the lock, but read without it: status and the engine's checks must not wait for an apply or an
    // activation in progress, and each of these is read on its own.
    volatile long committedEpoch = -1;
    volatile int committedPages;
    final AtomicLong verifiedEpochs = new AtomicLong();
    private volatile ProtectionState state = ProtectionState.SYNCING;
    private volatile String detail = "";
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
        this.streamBackOpener = streamBackOpener;
        this.preparation = new SwitchoverPreparation(id, lock, outputAttacher);
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
        relayed = List.of();
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

    /**
     * Planned switchover, the primary's first step: it paused the domain at checkpoint {@code epoch}, which this
     * replica acknowledged; throws with why when the replica cannot be activated from exactly that checkpoint, or
     * the primary could not be made its backup afterwards.
     */
    void prepareSwitchover(ReplicaStager stream, long epoch) throws CheckpointException {
        synchronized (lock) {
            if (current != stream || activated) {
                throw new CheckpointException("this stream no longer feeds the replica of " + id);
            }
            if (committed == null || committedEpoch != epoch) {
                throw new CheckpointException("the replica of " + id + " is at checkpoint " + committedEpoch
                        + ", not " + epoch);
            }
            String u = unusable();
            if (u != null) {
                throw new CheckpointException("the replica of " + id + " cannot be activated: " + u);
            }
            if (returnAddress == null) {
                throw new CheckpointException("the primary did not say where its stream listens, so it could not "
                        + "become the backup of " + id);
            }
            prepareActivation(epoch);
            // the stream back to the primary, which becomes this node's backup, opens now: the primary answers its
            // HELLO once it stopped its copy, so that the stream is up when "go" arrives
            preparation.streamBack(streamBackOpener.open(this, epoch));
        }
    }

    /** The stream back to the primary that a switchover's "prepare" opened, or null, for the take-over to own. */
    PreOpenedStream takeStreamBack() {
        synchronized (lock) {
            return preparation.takeStreamBack();
        }
    }

    /**
     * The binding may prepare the activation at {@code epoch} now, on a thread of its own ({@link
     * SwitchoverPreparation}), so that "go" only lets the domain run. Replicas with disks are activated as before.
     */
    @GuardedBy("lock")
    private void prepareActivation(long epoch) {
        if (committedDisks.isEmpty()) {
            preparation.prepare(committed, epoch,
                    () -> showDetail("switchover to this node prepared at checkpoint " + epoch));
        }
    }

    /**
     * A checkpoint is about to be applied to the committed replica: a switchover prepared at an earlier one did not
     * happen, and the binding takes its preparation back.
     */
    void dropPreparation() {
        synchronized (lock) {
            preparation.drop(committed);
        }
    }

    /** Closes the output buffers a switchover's "prepare" attached, if any (they held nothing). */
    @GuardedBy("lock")
    void dropPreparedOutputs(String why) {
        preparation.dropOutputs(why);
    }

    /**
     * The frames that reached the primary's copy while it was paused for a switchover, which {@code stream} handed
     * over with the domain: the domain activated from this replica is given them ({@link #takeRelayedFrames()}).
     */
    void relayed(ReplicaStager stream, List<InboundFrame> frames) {
        synchronized (lock) {
            if (current == stream && !activated) {
                relayed = List.copyOf(frames);
            }
        }
    }

    /** The frames {@link #relayed} to the domain activated from this replica, once; none after the first call. */
    List<InboundFrame> takeRelayedFrames() {
        synchronized (lock) {
            List<InboundFrame> frames = relayed;
            relayed = List.of();
            return frames;
        }
    }

    /**
     * Planned switchover, the primary's last step: its copy stopped for good at checkpoint {@code epoch}, which
     * {@code stream} prepared; the engine activates the replica (on its failover thread, not the transport's).
     */
    void handedOver(ReplicaStager stream, long epoch) {
        synchronized (lock) {
            if (current != stream || activated || committedEpoch != epoch) {
                LOG.error("{}: the primary handed the domain over at checkpoint {}, which this replica cannot take "
                        + "(committed {}, activated {}); failure detection decides", id, epoch, committedEpoch,
                        activated);
                return;
            }
            show(ProtectionState.STANDBY, "the primary handed the domain over at checkpoint " + epoch
                    + "; activating it here");
        }
        onHandOver.accept(epoch);
    }

    /**
     * The operator asks for a switchover on this node, the backup: the next ACK asks the primary for it (the primary
     * then hands the domain over as if asked there). Throws when no stream from the primary could carry the wish.
     */
    void wishSwitchover() {
        synchronized (lock) {
            if (activated) {
                throw new IllegalStateException("the replica of " + id + " was activated: " + id + " runs here");
            }
            if (current == null || committed == null || state != ProtectionState.PROTECTED) {
                throw new IllegalStateException("no stream from the primary of " + id + " is up (" + state
                        + (detail.isEmpty() ? "" : ": " + detail) + "); run romulus:switchover on the primary "
                        + primaryNode + " once it is PROTECTED");
            }
            switchoverWished = true;
        }
    }

    /** Whether {@code stream}'s next ACK is to carry the operator's wish for a switchover; forgets it once said. */
    boolean takeSwitchoverWish(ReplicaStager stream) {
        synchronized (lock) {
            if (current != stream || !switchoverWished) {
                return false;
            }
            switchoverWished = false;
            return true;
        }
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
        CompletableFuture<Void> loading;
        synchronized (lock) {
            loading = preparation.loading();
        }
        // a switchover's "prepare" answered "ready" before its binding had prepared: that goes on here, not beside
        try {
            long waited = SwitchoverPreparation.awaitLoad(loading);
            if (waited > 0) {
                LOG.info("{}: the activation waited {} ms for the switchover's preparation to end", id, waited);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("interrupted while the switchover's preparation of " + id + " went on", e);
        }
        synchronized (lock) {
            preparation.cancel();
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
            if (!paused) {
                preparation.dropStreamBack("the replica is activated by a failover, not a switchover");
            }
            PreparedOutputs outputs = preparation.takeOutputs();
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
            preparation.cancel();
            dropPreparedOutputs("the replica is dropped");
            preparation.dropStreamBack("the replica is dropped");
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
