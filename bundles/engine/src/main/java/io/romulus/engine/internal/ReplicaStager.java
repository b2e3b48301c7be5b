package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.ReplicaSink;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One stream into a {@link BackupReplica}: it receives the stream's records and stages each epoch whole. The first
 * epoch of a stream is the initial copy, written straight into the stream's replica and its disks; every later epoch
 * is staged here (its pages and device state) and on its disks' backup sides (its writes), checked against its
 * EPOCH_END (same epoch, as many pages and disk writes as announced) and only then handed to the
 * {@link ReplicaCommitter}. Calls arrive in stream order from one transport thread, so the staged epoch needs no lock.
 */
final class ReplicaStager implements ReplicaSink {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicaStager.class);

    private final BackupReplica owner;
    private final ReplicaCommitter committer;
    final Replica replica;
    final List<BackupReplica.ReplicaDisk> disks;
    private final int pageSize;
    /**
     * A newer stream, an activation or a hand-over replaced this one. Set under the owner's lock; volatile because
     * each record checks it first without the lock (the lock is taken again only where the replica is written).
     */
    volatile boolean superseded;
    private boolean initialDone;
    private long stagedEpoch = -1;
    /** Pages of the epoch that arrived (of the initial copy: written to the replica). */
    private int count;
    private int diskWriteCount;
    /** The staged pages of a checkpoint, in segments: a checkpoint of a large guest may carry more than 2 GiB. */
    private final StagingBuffer pages;
    private byte[] deviceState = new byte[0];
    /** The checkpoint a switchover was prepared at, or -1; the transport's thread only. */
    private long preparedEpoch = -1;
    /**
     * The engine's own CPU time per checkpoint ({@link CheckpointCpu}): the thread that delivers the records, and its
     * CPU time and the wall clock when the current checkpoint's measurement began (the end of the previous epoch
     * here); the transport's thread only.
     */
    private Thread cpuThread;
    private long cpuFrom = -1;
    private long cpuFromMillis;

    /**
     * @param resumed      the stream continues the committed replica: no initial copy
     * @param segmentBytes the size of a staging segment ({@link StagingBuffer#DEFAULT_SEGMENT_BYTES}; tests lower it)
     */
    ReplicaStager(BackupReplica owner, ReplicaCommitter committer, Replica replica,
            List<BackupReplica.ReplicaDisk> disks, boolean resumed, long segmentBytes) {
        this.owner = owner;
        this.committer = committer;
        this.initialDone = resumed;
        this.replica = replica;
        this.disks = List.copyOf(disks);
        this.pageSize = replica.spec().pageSize();
        this.pages = new StagingBuffer(pageSize, 256, segmentBytes);
    }

    /** Whether this stream's primary was told the domain was taken over (it then fences itself). */
    private volatile boolean takenOverTold;

    /** Throws when this stream takes no more records: activated here, or replaced by a newer stream. */
    void checkLive() throws CheckpointException {
        if (superseded) {
            if (owner.isActivated()) {
                if (!takenOverTold) {
                    takenOverTold = true;
                    owner.onTakenOver.run();
                }
                throw new DomainTakenOverException("the replica of " + owner.id() + " was activated on this node; "
                        + "checkpoints are refused");
            }
            throw new CheckpointException("a newer stream for " + owner.id() + " replaced this one");
        }
    }

    private void checkEpoch(long epoch) throws CheckpointException {
        preparedEpoch = -1; // a later checkpoint: the primary resumed the domain, the switchover was dropped
        if (stagedEpoch == -1) {
            stagedEpoch = epoch;
        } else if (epoch != stagedEpoch) {
            throw new CheckpointException("records of epoch " + epoch + " arrived while epoch " + stagedEpoch
                    + " of " + owner.id() + " is not complete");
        }
    }

    /**
     * Each record: a thread that was not measured yet (the stream's first record, or another thread than the last)
     * is measured from here on. The thread the transport delivers a stream's records on also reads, decrypts and
     * decodes them before they arrive here, and sends the ACK after an epoch ended, so what it spends from the end of
     * one epoch to the end of the next is what the checkpoint cost this node (with anything else it did meanwhile:
     * another stream the transport gave the same thread).
     */
    private void measure() {
        Thread t = Thread.currentThread();
        if (t != cpuThread) {
            cpuThread = t;
            cpuFrom = ThreadCpu.now();
            cpuFromMillis = System.currentTimeMillis();
        }
    }

    /** An epoch ended here, committed: a checkpoint's CPU time counts (the initial copy's not); the next one begins. */
    private void measured(boolean checkpoint) {
        long now = ThreadCpu.now();
        if (checkpoint) {
            owner.cpu.add(cpuFromMillis, cpuFrom < 0 || now < 0 ? -1 : now - cpuFrom);
        }
        cpuFrom = now;
        cpuFromMillis = System.currentTimeMillis();
    }

    @Override
    public void pages(long epoch, long[] batchPfns, int n, ByteBuffer data) throws CheckpointException {
        measure();
        checkLive();
        checkEpoch(epoch);
        long pageCount = replica.spec().pageCount();
        for (int i = 0; i < n; i++) {
            if (batchPfns[i] < 0 || batchPfns[i] >= pageCount) {
                throw new CheckpointException("page " + batchPfns[i] + " is outside the " + pageCount
                        + " pages of " + owner.id());
            }
        }
        if (!initialDone) {
            try {
                replica.writeInitial(batchPfns, 0, n, data);
            } catch (HypervisorException e) {
                throw new CheckpointException("writing the initial copy of " + owner.id() + " failed: "
                        + e.getMessage(), e);
            }
            count += n;
            return;
        }
        if (data.remaining() < (long) n * pageSize) {
            throw new CheckpointException(n + " pages of epoch " + epoch + " of " + owner.id() + " came with "
                    + data.remaining() + " bytes");
        }
        pages.append(batchPfns, n, data);
        count += n;
    }

    @Override
    public void diskWrites(long epoch, int disk, List<DiskWrite> writes) throws CheckpointException {
        measure();
        checkLive();
        checkEpoch(epoch);
        if (disk < 0 || disk >= disks.size()) {
            throw new CheckpointException("disk writes for disk " + disk + " of " + owner.id() + ", whose primary "
                    + "announced " + disks.size() + " disks");
        }
        BackupReplica.ReplicaDisk d = disks.get(disk);
        long size = d.disk().sizeBytes();
        for (DiskWrite w : writes) {
            if (w.offset() < 0 || (size > 0 && w.offset() + w.data().length > size)) {
                throw new CheckpointException("a write of " + w.data().length + " bytes at " + w.offset()
                        + " is outside disk " + d.disk().name() + " of " + owner.id() + " (" + size + " bytes)");
            }
        }
        // under the lock failover takes: a disk being activated takes no more writes
        synchronized (owner.lock) {
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
                        : "writing the initial copy") + " to disk " + d.disk().name() + " of " + owner.id()
                        + " failed: " + e.getMessage(), e);
            }
        }
        diskWriteCount += writes.size();
    }

    @Override
    public void deviceState(long epoch, byte[] state) throws CheckpointException {
        measure();
        checkLive();
        checkEpoch(epoch);
        deviceState = state.clone();
    }

    @Override
    public void epochEnd(EpochEnd end) throws CheckpointException {
        measure();
        checkLive();
        preparedEpoch = -1;
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
            owner.initialCopyReceived(count);
        } else {
            DeviceStateEnvelope envelope = DeviceStateEnvelope.decode(deviceState);
            committer.commit(this, new CommittedEpoch(end.epoch(), pages.pfns(), count, pages.segmentViews(),
                    envelope.bindingState()), envelope);
            pages.clear(); // on this thread: closed() may come from another
        }
        clearStaged();
        measured(!end.initial());
    }

    private void clearStaged() {
        stagedEpoch = -1;
        count = 0;
        diskWriteCount = 0;
        deviceState = new byte[0];
    }

    /**
     * The primary paused the domain at {@code epoch} and asks whether this replica can take it over from there: the
     * answer is "ready" once the binding moved the guest's addresses here ({@link BackupSwitchover#prepare}), which
     * this does not wait for.
     */
    @Override
    public CompletionStage<Void> prepareHandOverAsync(long epoch) {
        try {
            checkLive();
            preparedEpoch = -1;
            if (stagedEpoch != -1) {
                throw new CheckpointException("epoch " + stagedEpoch + " of " + owner.id()
                        + " is still being received");
            }
            CompletableFuture<Void> ready = owner.prepareSwitchover(this, epoch);
            preparedEpoch = epoch;
            return ready;
        } catch (CheckpointException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** {@link #prepareHandOverAsync}, waiting for its answer. */
    @Override
    public void prepareHandOver(long epoch) throws CheckpointException {
        try {
            prepareHandOverAsync(epoch).toCompletableFuture().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException("interrupted while preparing the hand-over of " + owner.id(), e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof CheckpointException c ? c
                    : new CheckpointException(String.valueOf(e.getCause().getMessage()), e.getCause());
        }
    }

    /**
     * {@link #handOver(long)}, with the frames that reached the primary's copy while it was paused: the domain
     * activated here is given them.
     */
    @Override
    public void handOver(long epoch, List<InboundFrame> frames) {
        if (preparedEpoch == epoch) {
            owner.relayed(this, frames);
        }
        handOver(epoch);
    }

    /** The primary stopped its copy at {@code epoch}: the replica is activated, if the switchover was prepared. */
    @Override
    public void handOver(long epoch) {
        if (preparedEpoch != epoch) {
            LOG.error("The primary of {} handed it over at checkpoint {}, which was not prepared here (prepared: {});"
                    + " failure detection decides", owner.id(), epoch, preparedEpoch);
            return;
        }
        owner.handedOver(this, epoch);
    }

    /** Whether this epoch's ACK asks the primary for a switchover to this node (once per operator's request). */
    @Override
    public boolean handOverWanted() {
        return owner.takeSwitchoverWish(this);
    }

    @Override
    public void closed(Throwable cause) {
        clearStaged();
        committer.streamEnded(this, cause);
    }
}
