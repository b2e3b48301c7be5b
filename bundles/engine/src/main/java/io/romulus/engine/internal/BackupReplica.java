package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;

import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.PlannedStopException;
import io.romulus.api.transport.ReplicaSink;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backup side of one domain: the committer. It receives one stream at a time. The first epoch of a stream is
 * the initial full copy, written straight into a fresh replica; every later epoch is staged whole and applied to the
 * replica only on a verified EPOCH_END, then acknowledged (the transport sends the ACK when
 * {@link #epochEnd(EpochEnd)} returns).
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
 * binding (the next version adopts it) and of the engine (handed over, see {@link #handOver()}).
 */
final class BackupReplica {

    private static final Logger LOG = LoggerFactory.getLogger(BackupReplica.class);

    private final DomainId id;
    private final Consumer<BackupReplica> onOrderlyEnd;
    private final Runnable onCommit;
    private final Object applyLock = new Object();

    private Replica committed;          // the replica failover uses; null until a first commit
    private List<ReplicaDisk> committedDisks = List.of(); // its disks
    private volatile long committedEpoch = -1;
    private volatile int committedPages;
    private volatile long verifiedEpochs;
    private volatile ProtectionState state = ProtectionState.SYNCING;
    private volatile String detail = "";
    private volatile String primaryNode = "";
    private volatile Map<String, String> options = Map.of();
    private volatile String returnAddress;
    private volatile StreamSink current;
    private volatile boolean activated;
    private volatile boolean verifyFailed;
    private volatile String diskFailure;
    private volatile String lineage;
    /** Called when the primary stops the stream for an update of its own (failover holds back a while). */
    private volatile Runnable onPlannedStop;
    /** The binding of the committed replica went away (bundle update): no apply and no failover until adopted. */
    private volatile boolean replicaAway;

    /** What a replica hands to the next engine: plain data; the binding keeps the replica itself. */
    record HandedOver(DomainId id, String lineage, long committedEpoch, String primaryNode, Map<String, String> options,
            String returnAddress, long memoryBytes, int pageSize) {
    }

    /** One disk of a replica: as the primary announced it, and its backup side. */
    record ReplicaDisk(GuestDisk disk, DiskReplicator.Backup backup) {
    }

    /**
     * @param onOrderlyEnd called when the primary ends the stream with GOODBYE (protection stopped there), so the
     *                     engine can drop this replica
     * @param onCommit     called after each committed checkpoint: the primary is alive (failure detection)
     */
    BackupReplica(DomainId id, Consumer<BackupReplica> onOrderlyEnd, Runnable onCommit) {
        this.id = id;
        this.onOrderlyEnd = onOrderlyEnd;
        this.onCommit = onCommit;
    }

    DomainId id() {
        return id;
    }

    long committedEpoch() {
        return committedEpoch;
    }

    /** The binding options of the domain, as its primary opened it. */
    Map<String, String> options() {
        return options;
    }

    /** Where the primary's stream listens, {@code host:port}, or null if it did not say. */
    String returnAddress() {
        return returnAddress;
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
        this.lineage = streamLineage;
        this.options = Map.copyOf(bindingOptions);
        this.returnAddress = returnAddress;
        synchronized (applyLock) {
            if (activated) {
                replica.close();
                closeDisks(disks);
                throw new DomainTakenOverException("the replica of " + id + " was activated on this node; it no "
                        + "longer accepts checkpoints");
            }
            StreamSink previous = current;
            if (previous != null) {
                previous.superseded = true;
            }
            StreamSink sink = new StreamSink(replica, disks);
            current = sink;
            primaryNode = primaryNodeId;
            state = ProtectionState.SYNCING;
            detail = "receiving the initial copy";
            return sink;
        }
    }

    /**
     * Resumes the committed replica with a new stream of the same lineage, when it committed an epoch from
     * {@code from} to {@code to}: the stream's first checkpoint goes straight into it. Returns null when it cannot be
     * resumed (then the primary's stream starts with an initial copy).
     */
    ReplicaSink resumeStream(String primaryNodeId, String streamLineage, long from, long to, List<GuestDisk> disks,
            Map<String, String> bindingOptions, String returnAddress) {
        synchronized (applyLock) {
            long c = committedEpoch;
            if (activated || committed == null || replicaAway || verifyFailed || diskFailure != null
                    || streamLineage == null || !streamLineage.equals(lineage) || c < from || c > to
                    || !sameDisks(disks)) {
                return null;
            }
            StreamSink previous = current;
            if (previous != null) {
                previous.superseded = true;
            }
            for (ReplicaDisk d : committedDisks) {
                try {
                    d.backup().discardUncommitted();
                } catch (RuntimeException e) {
                    LOG.warn("Dropping the uncommitted writes of disk {} of {} failed", d.disk().name(), id, e);
                }
            }
            this.options = Map.copyOf(bindingOptions);
            this.returnAddress = returnAddress;
            StreamSink sink = new StreamSink(committed, committedDisks, true);
            current = sink;
            primaryNode = primaryNodeId;
            state = ProtectionState.PROTECTED;
            detail = "stream resumed at checkpoint " + c;
            LOG.info("Stream of {} from {} resumed at checkpoint {} (no initial copy)", id, primaryNodeId, c);
            return sink;
        }
    }

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

    /** The binding of the replica is going away: the stream is cut (the primary resumes it once adopted). */
    void bindingGone() {
        synchronized (applyLock) {
            if (activated) {
                return;
            }
            replicaAway = true;
            StreamSink s = current;
            if (s != null) {
                s.superseded = true;
            }
            detail = "the binding went away (bundle update); waiting for its next version to adopt the replica";
        }
    }

    /** The binding of this replica, whether it waits for a new version of it. */
    String binding() {
        return id.binding();
    }

    boolean awaitsBinding() {
        return replicaAway;
    }

    /**
     * The new version of the binding adopts the replica ({@code adopter} returns it, or empty): everything else
     * stays; without it nothing consistent is left here and the replica is dropped.
     */
    boolean adoptReplica(java.util.function.Function<ReplicaSpec, Optional<Replica>> adopter) {
        synchronized (applyLock) {
            if (!replicaAway || committed == null) {
                return true;
            }
            Optional<Replica> adopted;
            try {
                adopted = adopter.apply(committed.spec());
            } catch (RuntimeException e) {
                LOG.warn("Adopting the replica of {} failed", id, e);
                adopted = Optional.empty();
            }
            if (adopted.isEmpty() || adopted.get().committedEpoch() != committedEpoch) {
                LOG.error("The new '{}' binding did not adopt the replica of {} at checkpoint {}{}; it is dropped and "
                        + "the primary's next stream copies the domain whole", id.binding(), id, committedEpoch,
                        adopted.map(r -> " (it holds checkpoint " + r.committedEpoch() + ")").orElse(""));
                adopted.ifPresent(Replica::close);
                committed = null;
                committedEpoch = -1;
                replicaAway = false;
                state = ProtectionState.CONNECTING;
                detail = "replica lost in a bundle update of its binding; waiting for a full copy";
                return false;
            }
            committed = adopted.get();
            replicaAway = false;
            detail = "replica adopted by the new binding at checkpoint " + committedEpoch;
            LOG.info("The replica of {} at checkpoint {} was adopted by the new '{}' binding", id, committedEpoch,
                    id.binding());
            return true;
        }
    }

    /**
     * The engine is being updated: cuts the stream and lets go of the replica without dropping it. Returns what the
     * next engine needs, or null when nothing can be handed over (no committed replica, activated, or disks, whose
     * backup sides end with this engine), after dropping it.
     */
    HandedOver handOver() {
        synchronized (applyLock) {
            StreamSink s = current;
            if (s != null) {
                s.superseded = true;
            }
            if (activated || committed == null || replicaAway || verifyFailed || diskFailure != null
                    || !committedDisks.isEmpty() || lineage == null) {
                return null;
            }
            if (s != null && s.replica != committed) {
                s.replica.close();
                closeDisks(s.disks);
            }
            current = null;
            ReplicaSpec spec = committed.spec();
            committed.detach();
            committed = null;
            state = ProtectionState.STOPPED;
            detail = "handed over to the next engine";
            return new HandedOver(id, lineage, committedEpoch, primaryNode, options, returnAddress,
                    spec.memoryBytes(), spec.pageSize());
        }
    }

    /** A replica handed over by the previous engine, adopted by its binding. */
    static BackupReplica restored(HandedOver h, Replica replica, Consumer<BackupReplica> onOrderlyEnd,
            Runnable onCommit) {
        BackupReplica b = new BackupReplica(h.id(), onOrderlyEnd, onCommit);
        b.committed = replica;
        b.committedEpoch = h.committedEpoch();
        b.lineage = h.lineage();
        b.primaryNode = h.primaryNode();
        b.options = Map.copyOf(h.options());
        b.returnAddress = h.returnAddress();
        b.state = ProtectionState.STANDBY;
        b.detail = "handed over by the previous engine at checkpoint " + h.committedEpoch()
                + "; waiting for the primary to resume";
        return b;
    }

    String primaryNode() {
        return primaryNode;
    }

    void onPlannedStop(Runnable r) {
        this.onPlannedStop = r;
    }

    ProtectionStatus status() {
        String d = detail;
        long verified = verifiedEpochs;
        if (verified > 0) {
            d = (d.isEmpty() ? "" : d + "; ") + "verified " + verified + " checkpoints against the primary's memory";
        }
        return new ProtectionStatus(id.toString(), Role.BACKUP, state, Math.max(0, committedEpoch), 0, 0,
                committedPages, 0, primaryNode, d);
    }

    /**
     * Failover: cuts off the stream and brings the last committed epoch to life on this node. Waits for an apply in
     * progress; never activates half an epoch.
     */
    ProtectedDomain activate() throws HypervisorException {
        synchronized (applyLock) {
            if (activated) {
                throw new IllegalStateException("the replica of " + id + " is already activated");
            }
            if (committed == null) {
                throw new HypervisorException("the replica of " + id + " has no committed checkpoint yet; "
                        + "there is nothing consistent to activate");
            }
            if (verifyFailed) {
                throw new HypervisorException("the replica of " + id + " failed verification; it is not activated");
            }
            if (replicaAway) {
                throw new HypervisorException("the replica of " + id + " waits for the next version of its '"
                        + id.binding() + "' binding (bundle update); activate it once that version is up");
            }
            if (diskFailure != null) {
                throw new HypervisorException("the replica of " + id + " is not activated: " + diskFailure);
            }
            activated = true;
            StreamSink s = current;
            if (s != null) {
                s.superseded = true;
            }
            List<GuestDisk> disks = new ArrayList<>();
            for (ReplicaDisk d : committedDisks) {
                try {
                    disks.add(d.backup().activate());
                } catch (Exception e) {
                    throw new HypervisorException("activating disk " + d.disk().name() + " of " + id + " failed: "
                            + e.getMessage(), e);
                }
            }
            ProtectedDomain running = committed.activate(disks);
            state = ProtectionState.ACTIVATED;
            detail = "activated from checkpoint " + committedEpoch;
            LOG.info("FAILOVER: {} activated on this node from checkpoint {}{}", id, committedEpoch,
                    disks.isEmpty() ? "" : " with disks " + String.join(", ", disks.stream().map(GuestDisk::name)
                            .toList()));
            return running;
        }
    }

    /**
     * Scale-out: starts {@code clone} from the last committed epoch of this replica, which stays the domain's backup
     * (the binding copies the replica between two applies, so the clone never sees half an epoch).
     */
    ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        Replica r;
        synchronized (applyLock) {
            if (activated) {
                throw new IllegalStateException("the replica of " + id + " was activated: " + id + " runs here, "
                        + "and a clone is started from a replica");
            }
            if (committed == null) {
                throw new IllegalStateException("the replica of " + id + " has no committed checkpoint yet; wait "
                        + "until romulus:status shows it PROTECTED");
            }
            if (verifyFailed || replicaAway || diskFailure != null) {
                throw new IllegalStateException("the replica of " + id + " is not usable for a clone: " + detail);
            }
            r = committed;
        }
        // not under applyLock: starting the clone takes a while, and the primary waits for ACKs meanwhile
        return r.fork(clone, overrides);
    }

    /** Drops everything (the primary ended protection, or the engine stops). */
    void close() {
        synchronized (applyLock) {
            StreamSink s = current;
            if (s != null) {
                s.superseded = true;
                if (s.replica != committed) {
                    s.replica.close();
                    closeDisks(s.disks);
                }
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

    private void closeDisks(List<ReplicaDisk> disks) {
        for (ReplicaDisk d : disks) {
            try {
                d.backup().close();
            } catch (RuntimeException e) {
                LOG.warn("Closing the replica of disk {} of {} failed", d.disk().name(), id, e);
            }
        }
    }

    /** One stream's sink. Calls arrive in stream order from one transport thread. */
    private final class StreamSink implements ReplicaSink {

        final Replica replica;
        final List<ReplicaDisk> disks;
        final int pageSize;
        volatile boolean superseded;
        private int diskWriteCount;
        private boolean initialDone;
        private long stagedEpoch = -1;
        private long[] pfns = new long[256];
        private int count;
        private ByteBuffer pages;
        private byte[] deviceState = new byte[0];

        StreamSink(Replica replica, List<ReplicaDisk> disks) {
            this(replica, disks, false);
        }

        /** @param resumed the stream continues the committed replica: no initial copy */
        StreamSink(Replica replica, List<ReplicaDisk> disks, boolean resumed) {
            this.initialDone = resumed;
            this.replica = replica;
            this.disks = List.copyOf(disks);
            this.pageSize = replica.spec().pageSize();
            this.pages = ByteBuffer.allocateDirect(256 * pageSize);
        }

        private void checkLive() throws CheckpointException {
            if (superseded) {
                if (activated) {
                    throw new DomainTakenOverException("the replica of " + id + " was activated on this node; "
                            + "checkpoints are refused");
                }
                throw new CheckpointException("a newer stream for " + id + " replaced this one");
            }
        }

        private void checkEpoch(long epoch) throws CheckpointException {
            if (stagedEpoch == -1) {
                stagedEpoch = epoch;
            } else if (epoch != stagedEpoch) {
                throw new CheckpointException("records of epoch " + epoch + " arrived while epoch " + stagedEpoch
                        + " of " + id + " is not complete");
            }
        }

        @Override
        public void pages(long epoch, long[] batchPfns, int n, ByteBuffer data) throws CheckpointException {
            checkLive();
            checkEpoch(epoch);
            long pageCount = replica.spec().pageCount();
            for (int i = 0; i < n; i++) {
                if (batchPfns[i] < 0 || batchPfns[i] >= pageCount) {
                    throw new CheckpointException("page " + batchPfns[i] + " is outside the " + pageCount
                            + " pages of " + id);
                }
            }
            if (!initialDone) {
                try {
                    replica.writeInitial(batchPfns, 0, n, data);
                } catch (HypervisorException e) {
                    throw new CheckpointException("writing the initial copy of " + id + " failed: " + e.getMessage(), e);
                }
                count += n;
                return;
            }
            ensure(count + n);
            System.arraycopy(batchPfns, 0, pfns, count, n);
            ByteBuffer src = data.duplicate();
            src.limit(src.position() + n * pageSize);
            pages.position(count * pageSize);
            pages.put(src);
            count += n;
        }

        private void ensure(int pagesNeeded) {
            if (pagesNeeded > pfns.length) {
                pfns = Arrays.copyOf(pfns, Math.max(pagesNeeded, pfns.length * 2));
            }
            long bytes = (long) pagesNeeded * pageSize;
            if (bytes > pages.capacity()) {
                long grown = Math.min(Integer.MAX_VALUE - pageSize, Math.max(bytes, 2L * pages.capacity()));
                ByteBuffer bigger = ByteBuffer.allocateDirect((int) (grown - grown % pageSize));
                ByteBuffer old = pages.duplicate();
                old.position(0).limit(count * pageSize);
                bigger.put(old);
                pages = bigger;
            }
        }

        @Override
        public void diskWrites(long epoch, int disk, List<DiskWrite> writes) throws CheckpointException {
            checkLive();
            checkEpoch(epoch);
            if (disk < 0 || disk >= disks.size()) {
                throw new CheckpointException("disk writes for disk " + disk + " of " + id + ", whose primary "
                        + "announced " + disks.size() + " disks");
            }
            ReplicaDisk d = disks.get(disk);
            long size = d.disk().sizeBytes();
            for (DiskWrite w : writes) {
                if (w.offset() < 0 || (size > 0 && w.offset() + w.data().length > size)) {
                    throw new CheckpointException("a write of " + w.data().length + " bytes at " + w.offset()
                            + " is outside disk " + d.disk().name() + " of " + id + " (" + size + " bytes)");
                }
            }
            // under the lock failover takes: a disk being activated takes no more writes
            synchronized (applyLock) {
                checkLive();
                try {
                    if (!initialDone) {
                        for (DiskWrite w : writes) {
                            d.backup().writeInitial(w.offset(), ByteBuffer.wrap(w.data()));
                        }
                    } else {
                        d.backup().stage(epoch, writes);
                    }
                } catch (Exception e) {
                    throw new CheckpointException((initialDone ? "staging writes of epoch " + epoch
                            : "writing the initial copy") + " to disk " + d.disk().name() + " of " + id + " failed: "
                            + e.getMessage(), e);
                }
            }
            diskWriteCount += writes.size();
        }

        @Override
        public void deviceState(long epoch, byte[] state) throws CheckpointException {
            checkLive();
            checkEpoch(epoch);
            deviceState = state.clone();
        }

        @Override
        public void epochEnd(EpochEnd end) throws CheckpointException {
            checkLive();
            if (stagedEpoch != -1 && stagedEpoch != end.epoch()) {
                throw new CheckpointException("EPOCH_END " + end.epoch() + " ends epoch " + stagedEpoch);
            }
            if (end.pageCount() != count) {
                throw new CheckpointException("EPOCH_END " + end.epoch() + " announces " + end.pageCount()
                        + " pages, " + count + " arrived");
            }
            if (end.diskWriteCount() != diskWriteCount) {
                throw new CheckpointException("EPOCH_END " + end.epoch() + " announces " + end.diskWriteCount()
                        + " disk writes, " + diskWriteCount + " arrived");
            }
            if (end.initial() == initialDone) {
                throw new CheckpointException(initialDone
                        ? "a second initial copy arrived on one stream"
                        : "the first epoch of a stream must be the initial copy");
            }
            if (end.initial()) {
                initialDone = true;
                detail = "initial copy received; waiting for the first checkpoint";
                LOG.info("Initial copy of {} received from {} ({} pages)", id, primaryNode, count);
            } else {
                commit(end);
            }
            stagedEpoch = -1;
            count = 0;
            diskWriteCount = 0;
            deviceState = new byte[0];
        }

        private void commit(EpochEnd end) throws CheckpointException {
            ByteBuffer staged = pages.duplicate();
            staged.position(0).limit(count * pageSize);
            DeviceStateEnvelope envelope = DeviceStateEnvelope.decode(deviceState);
            synchronized (applyLock) {
                checkLive();
                try {
                    replica.applyCommitted(new CommittedEpoch(end.epoch(), pfns, count, staged,
                            envelope.bindingState()));
                    if (envelope.verify()) {
                        int mine = MemoryDigest.of(replica);
                        if (mine != envelope.memoryDigest()) {
                            LOG.error("VERIFY FAILED: the replica of {} after checkpoint {} differs from the primary's"
                                    + " memory (CRC32C {} here, {} there); refusing the checkpoint", id, end.epoch(),
                                    Integer.toHexString(mine), Integer.toHexString(envelope.memoryDigest()));
                            verifyFailed = true;
                            state = ProtectionState.FAILED;
                            detail = "verification failed at checkpoint " + end.epoch();
                            throw new CheckpointException("replica of " + id + " differs from the primary after "
                                    + "checkpoint " + end.epoch());
                        }
                        verifiedEpochs++;
                    }
                } catch (HypervisorException e) {
                    throw new CheckpointException("applying epoch " + end.epoch() + " of " + id + " failed: "
                            + e.getMessage(), e);
                }
                // the disks follow the memory before the ACK, and before failover can look (it takes this lock)
                for (ReplicaDisk d : disks) {
                    try {
                        d.backup().commit(end.epoch());
                    } catch (Exception e) {
                        String why = "disk " + d.disk().name() + " failed to commit checkpoint " + end.epoch() + ": "
                                + e.getMessage();
                        if (committed == replica) {
                            // memory is at this epoch and the disks are not all: nothing consistent is left here
                            diskFailure = why;
                            state = ProtectionState.FAILED;
                            detail = why;
                            LOG.error("The replica of {} is no longer consistent: {}; it will not be activated", id,
                                    why, e);
                        }
                        throw new CheckpointException(why, e);
                    }
                }
                if (committed != replica) {
                    Replica old = committed;
                    List<ReplicaDisk> oldDisks = committedDisks;
                    committed = replica;
                    committedDisks = disks;
                    diskFailure = null; // what failed belonged to the replica this one replaces
                    if (old != null) {
                        old.close();
                    }
                    closeDisks(oldDisks);
                    state = ProtectionState.PROTECTED;
                    detail = "";
                    LOG.info("{} is protected here: first checkpoint {} committed", id, end.epoch());
                }
                committedEpoch = end.epoch();
                committedPages = count;
            }
            onCommit.run();
        }

        @Override
        public void closed(Throwable cause) {
            synchronized (applyLock) {
                count = 0;
                stagedEpoch = -1;
                diskWriteCount = 0;
                boolean mine = disks != committedDisks;
                // the committed disks' staged writes are this stream's only while no newer stream (a resumed one) uses them
                if (mine || (!activated && (current == this || current == null))) {
                    for (ReplicaDisk d : disks) {
                        try {
                            d.backup().discardUncommitted();
                        } catch (RuntimeException e) {
                            LOG.warn("Dropping the uncommitted writes of disk {} of {} failed", d.disk().name(), id,
                                    e);
                        }
                    }
                }
                if (current != this) {
                    if (replica != committed) {
                        replica.close();
                    }
                    if (mine) {
                        closeDisks(disks);
                    }
                    return;
                }
                current = null;
                if (replica != committed) {
                    replica.close();
                }
                if (mine) {
                    closeDisks(disks);
                }
                if (activated) {
                    return;
                }
                if (committed != null) {
                    state = ProtectionState.STANDBY;
                    detail = cause == null ? "the primary ended the stream" : "stream lost: " + cause.getMessage();
                } else {
                    state = ProtectionState.CONNECTING;
                    detail = "stream lost before the first checkpoint"
                            + (cause == null ? "" : ": " + cause.getMessage());
                }
                if (cause == null) {
                    LOG.info("The primary of {} ended protection; dropping the replica (checkpoint {})", id,
                            committedEpoch);
                    onOrderlyEnd.accept(BackupReplica.this);
                } else if (cause instanceof PlannedStopException) {
                    LOG.info("Stream of {} stopped by its primary for an update ({}); replica kept at checkpoint {}",
                            id, cause.getMessage(), committedEpoch);
                    Runnable r = onPlannedStop;
                    if (r != null) {
                        r.run();
                    }
                } else {
                    LOG.warn("Stream of {} lost: {}; replica kept at checkpoint {}", id, cause.getMessage(),
                            committedEpoch);
                }
            }
        }
    }
}
