package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The disks' part of each checkpoint. Each stream opens the primary side of every disk with the replicator the engine
 * picks for it, and its initial copy streams the disks' whole content after the memory's. In the pause of epoch N
 * (the paused domain writes nothing), each disk's barrier N returns the writes that belong to N; they travel after
 * N's device state, and the ACK of N commits them on the disks' side. A stream that breaks closes the disks' primary sides: the
 * writes it did not deliver are in the next stream's initial copy, like the memory.
 *
 * <p>Used by the epoch loop's thread only: its fields need no lock.
 */
final class DiskCheckpoints {

    private static final Logger LOG = LoggerFactory.getLogger(DiskCheckpoints.class);

    private final DomainId id;
    private final List<GuestDisk> disks;
    private final PrimaryProtection.Node node;
    private final UnackedCheckpoints ledger;
    /** The disks' primary sides for the current stream. */
    private List<DiskReplicator.Primary> primaries = List.of();
    /** The last epoch they committed. */
    private long committed;

    DiskCheckpoints(DomainId id, List<GuestDisk> disks, PrimaryProtection.Node node, UnackedCheckpoints ledger) {
        this.id = id;
        this.disks = List.copyOf(disks);
        this.node = node;
        this.ledger = ledger;
    }

    List<GuestDisk> disks() {
        return disks;
    }

    /** Which disk no replicator takes now, or null when each has one. */
    String missingReplicator() {
        for (GuestDisk d : disks) {
            if (node.diskReplicator(d) == null) {
                return node.noDiskReplicator(d);
            }
        }
        return null;
    }

    /**
     * The disks' part of the initial copy: opens each disk's primary side for this stream (which starts its write
     * log) and streams its content as disk writes of the initial epoch, chunk by chunk as the replicator reads them.
     */
    void initialCopy(PrimaryStream s, long initialEpoch, LoopSignal signal, PrimaryStatus status)
            throws InterruptedException, LinkLostException {
        close();
        List<DiskReplicator.Primary> opened = new ArrayList<>();
        primaries = opened;
        committed = initialEpoch;
        for (int i = 0; i < disks.size(); i++) {
            GuestDisk disk = disks.get(i);
            DiskReplicator replicator = node.diskReplicator(disk);
            if (replicator == null) {
                throw new LinkLostException(node.noDiskReplicator(disk));
            }
            int index = i;
            long started = System.nanoTime();
            long[] copied = {0};
            int[] lastPercent = {-1};
            try {
                DiskReplicator.Primary p = replicator.primary(id, disk);
                opened.add(p);
                p.initialCopy((offset, data) -> {
                    s.check();
                    if (signal.stopping()) {
                        throw new LinkLostException("protection stopped during the initial copy");
                    }
                    byte[] bytes = new byte[data.remaining()];
                    data.duplicate().get(bytes);
                    s.send(() -> {
                        s.channel.sendDiskWrites(initialEpoch, index, List.of(new DiskWrite(offset, bytes)));
                        return null;
                    });
                    copied[0] += bytes.length;
                    if (disk.sizeBytes() <= 0) {
                        status.detail(String.format("initial copy of disk %s: %d MiB", disk.name(), copied[0] >> 20));
                        return;
                    }
                    int percent = (int) Math.min(100, copied[0] * 100 / disk.sizeBytes());
                    if (percent != lastPercent[0]) {
                        lastPercent[0] = percent;
                        status.detail(String.format("initial copy of disk %s: %d%% (%d of %d MiB)", disk.name(),
                                percent, copied[0] >> 20, disk.sizeBytes() >> 20));
                        if (percent % 25 == 0) {
                            LOG.info("Initial copy of disk {} of {}: {}%", disk.name(), id, percent);
                        }
                    }
                });
            } catch (LinkLostException | InterruptedException e) {
                throw e;
            } catch (Exception e) {
                throw failed(disk, "initial copy", e);
            }
            LOG.info("Initial copy of disk {} of {} ({}, {} MiB) sent in {} ms", disk.name(), id,
                    replicator.name(), copied[0] >> 20, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        }
    }

    /**
     * Why a switchover cannot hand the disks over (a disk whose replicator cannot, or has none now), or null when
     * every disk can be.
     */
    String noHandOver() {
        for (GuestDisk d : disks) {
            DiskReplicator r = node.diskReplicator(d);
            if (r == null) {
                return node.noDiskReplicator(d);
            }
            if (!r.handsOver()) {
                return "disk " + d.name() + " is replicated by '" + r.name() + "', which cannot hand a disk over in a "
                        + "switchover";
            }
        }
        return null;
    }

    /**
     * Planned switchover, on the new primary, with the activated domain still paused at checkpoint {@code epoch}:
     * opens each disk's primary side as a resumed one (its write log starts now, no initial copy), since the old
     * primary's copy holds the disks at {@code epoch}. Returns why it could not, after closing what it opened (the
     * old primary then gets a full copy), or null.
     */
    String resume(long epoch) {
        List<DiskReplicator.Primary> opened = new ArrayList<>();
        for (GuestDisk disk : disks) {
            DiskReplicator replicator = node.diskReplicator(disk);
            try {
                if (replicator == null) {
                    throw new IllegalStateException(node.noDiskReplicator(disk));
                }
                opened.add(replicator.resume(id, disk, epoch));
            } catch (Exception e) {
                opened.forEach(DiskReplicator.Primary::close);
                LOG.warn("{}: disk {} cannot continue from checkpoint {} after the switchover: {}", id, disk.name(),
                        epoch, e.toString());
                return "disk " + disk.name() + ": " + e.getMessage();
            }
        }
        primaries = opened;
        committed = epoch;
        return null;
    }

    /**
     * Planned switchover, on the old primary, once its copy of the domain stopped for good after checkpoint
     * {@code epoch} (acknowledged): each disk's copy here becomes the backup side of the new primary's stream
     * ({@link DiskReplicator.Primary#handOver}), before the backup runs the domain. Returns them in disk order; throws
     * when a disk could not be handed over, after closing those that were.
     */
    List<BackupReplica.ReplicaDisk> handOver(long epoch) throws Exception {
        List<BackupReplica.ReplicaDisk> kept = new ArrayList<>();
        List<DiskReplicator.Primary> sides = primaries;
        primaries = List.of();
        Exception failure = null;
        for (int i = 0; i < sides.size(); i++) {
            try {
                if (failure == null) {
                    kept.add(new BackupReplica.ReplicaDisk(disks.get(i), sides.get(i).handOver(epoch)));
                    continue;
                }
            } catch (Exception e) {
                failure = new Exception("disk " + disks.get(i).name() + " could not be handed over: " + e.getMessage(),
                        e);
            }
            sides.get(i).close();
        }
        if (failure == null && sides.size() != disks.size()) {
            failure = new IllegalStateException("the disks' primary sides are not open");
        }
        if (failure != null) {
            kept.forEach(d -> d.backup().close());
            throw failure;
        }
        return kept;
    }

    /** Barrier {@code epoch} on every disk, in the pause: the writes of the epoch, per disk (none without disks). */
    List<List<DiskWrite>> barrier(long epoch) throws LinkLostException {
        if (primaries.isEmpty()) {
            return List.of();
        }
        List<List<DiskWrite>> writes = new ArrayList<>(primaries.size());
        for (int i = 0; i < primaries.size(); i++) {
            try {
                writes.add(List.copyOf(primaries.get(i).barrier(epoch)));
            } catch (Exception e) {
                throw failed(disks.get(i), "barrier " + epoch, e);
            }
        }
        return writes;
    }

    /** Tells the disks about every checkpoint of this stream acknowledged since the last call, in order. */
    void commitAcknowledged() throws LinkLostException {
        long acked = ledger.lastAcked();
        while (committed < acked && !primaries.isEmpty()) {
            long epoch = committed + 1;
            for (int i = 0; i < primaries.size(); i++) {
                try {
                    primaries.get(i).committed(epoch);
                } catch (Exception e) {
                    throw failed(disks.get(i), "commit " + epoch, e);
                }
            }
            committed = epoch;
        }
    }

    /** Closes the disks' primary sides: their write logs end, so the backup's disks need a copy to catch up. */
    void close() {
        if (!primaries.isEmpty()) {
            ledger.diskLogsEnded();
        }
        for (DiskReplicator.Primary p : primaries) {
            try {
                p.close();
            } catch (RuntimeException e) {
                LOG.warn("Closing a disk replicator of {} failed", id, e);
            }
        }
        primaries = List.of();
    }

    /** Another node runs the domain: nothing on this node may write its disks any more. */
    void fence() {
        for (GuestDisk d : disks) {
            DiskReplicator r = node.diskReplicator(d);
            try {
                if (r != null) {
                    r.fence(id, d);
                }
            } catch (Exception e) {
                LOG.error("FENCED: disk {} of {} could not be fenced on this node ({}): make sure nothing here "
                        + "writes it", d.name(), id, e.getMessage());
            }
        }
    }

    /**
     * A disk's replicator failed: the stream cannot carry a consistent disk any more, so it is restarted, with a
     * full copy of memory and disks (the replicator is picked again, so an updated bundle takes over).
     */
    private LinkLostException failed(GuestDisk disk, String what, Exception e) {
        LOG.warn("Disk replication of {} on {} failed ({}): {}; restarting the stream with a full copy", disk.name(),
                id, what, e.toString(), e);
        return new LinkLostException("disk " + disk.name() + ": " + what + " failed: " + e.getMessage(), e);
    }
}
