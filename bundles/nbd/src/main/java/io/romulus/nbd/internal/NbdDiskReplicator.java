package io.romulus.nbd.internal;

import java.io.IOException;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's own replicated disk (ARCHITECTURE.md section 7), in-stream: on the primary, the writes a guest made to
 * an {@link NbdExports} export during epoch N are drained at barrier N and travel with checkpoint N; the backup
 * stages them and applies them to its copy of the disk only when N commits.
 *
 * <p>Usable without OSGi: {@code new NbdDiskReplicator(new NbdExports(settings))}.
 */
@Component(service = DiskReplicator.class, property = DiskReplicator.KIND + "=" + NbdExports.KIND)
public final class NbdDiskReplicator implements DiskReplicator {

    private static final Logger LOG = LoggerFactory.getLogger(NbdDiskReplicator.class);

    private final NbdExports exports;

    @Activate
    public NbdDiskReplicator(@Reference NbdExports exports) {
        this.exports = exports;
    }

    @Override
    public String name() {
        return NbdExports.KIND;
    }

    /** An {@code nbd} disk whose source is an {@code nbd+unix} URI this replicator can parse. */
    @Override
    public boolean supports(GuestDisk disk) {
        if (!NbdExports.KIND.equals(disk.kind())) {
            LOG.debug("disk {} is of kind {}, not {}", disk.name(), disk.kind(), NbdExports.KIND);
            return false;
        }
        if (NbdUri.parse(disk.source()).isEmpty()) {
            LOG.debug("disk {}: source {} is not nbd+unix:///NAME?socket=PATH", disk.name(), disk.source());
            return false;
        }
        return true;
    }

    /**
     * The primary side of a disk served by this node's {@link NbdExports}.
     *
     * @throws IOException if the disk's source names no export of this node
     */
    @Override
    public NbdPrimary primary(DomainId domain, GuestDisk disk) throws IOException {
        NbdExport export = exports.find(disk).orElseThrow(() -> new IOException("disk " + disk.name() + " of "
                + domain + " (" + disk.source() + ") is not served by this node's NBD server on "
                + exports.socket()));
        return new NbdPrimary(domain, disk, exports, export, exports.settings().initialChunkBytes());
    }

    /** A switchover's old primary keeps the image it served as the backup copy; the new primary's copy is served. */
    @Override
    public boolean handsOver() {
        return true;
    }

    /**
     * The primary side of a disk the new primary activated in a switchover ({@link NbdBackup#activate()} served it):
     * its write log starts now, and the old primary, which kept its image, gets no copy.
     */
    @Override
    public NbdPrimary resume(DomainId domain, GuestDisk disk, long epoch) throws IOException {
        NbdPrimary p = primary(domain, disk);
        p.resume(epoch);
        return p;
    }

    /** The backup side: a sparse image {@code image.dir/DOMAIN-DISK.STREAM.img} of the announced size, per stream. */
    @Override
    public NbdBackup backup(DomainId domain, GuestDisk disk) throws IOException {
        return NbdBackup.open(domain, disk, exports);
    }

    @Override
    public String toString() {
        return "NBD disk replicator (" + exports + ")";
    }
}
