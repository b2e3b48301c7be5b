package io.romulus.api.disk;

import java.util.List;

import io.romulus.api.hypervisor.GuestDisk;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Keeps a protected domain's disk consistent with its checkpoints (ARCHITECTURE.md section 7): the backup never
 * applies writes of an epoch that has not committed.
 */
@ConsumerType
public interface DiskReplicator {

    /** {@code drbd} or {@code nbd}. */
    String name();

    boolean supports(GuestDisk disk);

    /** Primary side for one disk. */
    Primary primary(GuestDisk disk) throws Exception;

    /** Backup side for one disk. */
    Backup backup(GuestDisk disk) throws Exception;

    /** Primary side. */
    interface Primary extends AutoCloseable {

        /** Barrier N: writes so far belong to {@code epoch}. Returns them if this replicator ships them in-stream. */
        List<DiskWrite> barrier(long epoch) throws Exception;

        /** The backup acknowledged {@code epoch}. */
        void committed(long epoch) throws Exception;

        @Override
        void close();
    }

    /** Backup side. */
    interface Backup extends AutoCloseable {

        void stage(long epoch, List<DiskWrite> writes) throws Exception;

        void commit(long epoch) throws Exception;

        /** Failover: make the disk usable by the activated domain. */
        void activate() throws Exception;

        @Override
        void close();
    }
}
