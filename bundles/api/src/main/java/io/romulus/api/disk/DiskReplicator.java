package io.romulus.api.disk;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Keeps a protected domain's disk consistent with its checkpoints (ARCHITECTURE.md section 7): at every committed
 * epoch the backup's disk matches the backup's memory, and the backup never applies writes of an epoch that has not
 * committed. Registered as an OSGi service with the service property {@value #KIND} naming the {@link GuestDisk#kind()}
 * it replicates ({@code nbd}, {@code drbd}).
 *
 * <p>Two ways to replicate: in-stream (the primary's writes of epoch N travel with checkpoint N as DISK_WRITES records
 * and the backup applies them when N commits: {@code nbd}), or beside the stream (the replicator moves the data itself
 * and only coordinates epochs: {@code drbd}, whose {@link Primary#barrier} returns no writes).
 */
@ConsumerType
public interface DiskReplicator {

    /** Service property: the disk kind this replicator serves. */
    String KIND = "romulus.disk.kind";

    /** {@code nbd} or {@code drbd}. */
    String name();

    /** Whether this replicator can replicate {@code disk} on this host, with the reason when it cannot. */
    boolean supports(GuestDisk disk);

    /** The primary side of one disk of a protected domain. */
    Primary primary(DomainId domain, GuestDisk disk) throws Exception;

    /** The backup side of one disk, as announced by the primary. */
    Backup backup(DomainId domain, GuestDisk disk) throws Exception;

    /**
     * Fencing: this node lost {@code domain} to its backup, which runs it now (invariant I5), and the domain was
     * stopped here. Makes sure this node's copy of {@code disk} can no longer be written by anyone here (DRBD: demote
     * the resource, or outdate it). The default does nothing: an in-stream replicator's primary copy is this node's
     * own file, which nothing writes once the domain is stopped.
     */
    default void fence(DomainId domain, GuestDisk disk) throws Exception {
    }

    /**
     * Whether a planned switchover can hand this replicator's disks over ({@link Primary#handOver} on the old
     * primary, {@link #resume} on the new one). The default says no: the engine refuses to switch a domain with such
     * a disk over, and says so.
     */
    default boolean handsOver() {
        return false;
    }

    /**
     * Planned switchover, on the new primary: the primary side of {@code disk} (as its {@link Backup#activate()}
     * returned it) for a stream that resumes the old primary's copy, which holds the disk as of checkpoint
     * {@code epoch} already: nothing is copied. Called while the activated domain is still paused: the write log
     * starts now, and the first {@link Primary#barrier} returns every write since. {@link Primary#initialCopy} is not
     * called on it unless the old primary cannot resume (then it copies the disk whole as usual).
     *
     * @throws UnsupportedOperationException where this replicator cannot (the default; see {@link #handsOver()})
     */
    default Primary resume(DomainId domain, GuestDisk disk, long epoch) throws Exception {
        throw new UnsupportedOperationException(name() + " disks cannot be handed over by a switchover");
    }

    /** A part of the disk's content for the initial copy. */
    @FunctionalInterface
    interface ChunkSink {
        /** {@code data} from its position to its limit belongs at byte {@code offset} of the disk. */
        void chunk(long offset, ByteBuffer data) throws Exception;
    }

    /** Primary side. Called from the domain's epoch thread. */
    interface Primary extends AutoCloseable {

        /**
         * Starts logging writes, then streams the disk's whole content to {@code sink} while the guest runs (epoch 0).
         * Writes made during the copy are logged and returned by the first {@link #barrier}, so that the copy plus
         * the first checkpoint's writes give the disk as it was at that checkpoint.
         */
        void initialCopy(ChunkSink sink) throws Exception;

        /**
         * Barrier of epoch N, called while the domain is paused: every write completed so far and not yet returned
         * belongs to {@code epoch}. Returns them in the order they completed when this replicator ships writes
         * in-stream, otherwise an empty list. Writes still in flight (not yet completed to the guest) belong to
         * the next epoch.
         */
        List<DiskWrite> barrier(long epoch) throws Exception;

        /** The backup acknowledged {@code epoch}. */
        void committed(long epoch) throws Exception;

        /**
         * Planned switchover, on the old primary: the domain was stopped for good after checkpoint {@code epoch},
         * whose writes this side returned at barrier {@code epoch} and the backup committed. This node's copy of the
         * disk, which holds it as of {@code epoch}, becomes the backup side of the new primary's stream, with no copy
         * (in-stream: the same image; DRBD: the resource is demoted here, so that the new primary can promote its
         * own, invariant I5). Called before the backup is told to run the domain. This side stops logging; the
         * engine does not close it afterwards.
         *
         * @return the backup side over this node's copy, committed at {@code epoch}
         * @throws UnsupportedOperationException where the replicator cannot (the default; see
         *                                       {@link DiskReplicator#handsOver()})
         */
        default Backup handOver(long epoch) throws Exception {
            throw new UnsupportedOperationException("this disk cannot be handed over by a switchover");
        }

        /** Stops logging; the disk stays as it is and keeps serving the domain. */
        @Override
        void close();
    }

    /** Backup side. Called from the transport's thread for one stream, and from failover. */
    interface Backup extends AutoCloseable {

        /** Writes a chunk of the initial copy (epoch 0) straight to the backup's disk. */
        void writeInitial(long offset, ByteBuffer data) throws Exception;

        /** Holds the writes of {@code epoch}; nothing reaches the backup's disk before {@link #commit}. */
        void stage(long epoch, List<DiskWrite> writes) throws Exception;

        /** {@code epoch} committed: applies its staged writes to the backup's disk, in order, before returning. */
        void commit(long epoch) throws Exception;

        /** The stream ended: drops every staged write of an epoch that did not commit. */
        void discardUncommitted();

        /**
         * Failover: makes the disk usable by the activated domain, as of the last committed epoch.
         *
         * @return the disk as the activated domain is to see it (its kind and source on this host)
         */
        GuestDisk activate() throws Exception;

        /**
         * The disk as {@link #activate()} will return it, served already where the replicator can, for a standby VM
         * that opens it before failover (see {@link io.romulus.api.hypervisor.Replica#standby}). The standby does no
         * I/O on it until activation, which applies every committed write first. Idempotent. Empty (the default)
         * where the disk cannot be opened before activation, e.g. a DRBD secondary: the VM then starts at failover.
         */
        default Optional<GuestDisk> standby() throws Exception {
            return Optional.empty();
        }

        /** Drops the replica's hold (not the disk's data). */
        @Override
        void close();
    }
}
