package io.romulus.drbd.internal;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.Supplier;

import io.romulus.api.disk.DiskReplicator.Backup;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The backup side of a disk DRBD replicates: nothing is staged; failover promotes the resource here. */
final class DrbdBackup implements Backup {

    private static final Logger LOG = LoggerFactory.getLogger(DrbdBackup.class);

    private final Supplier<DrbdTools> tools;
    private final DomainId domain;
    private final GuestDisk disk;
    private final String resource;
    private final int volume;

    /** @param tools the DRBD tools configured when failover comes */
    DrbdBackup(Supplier<DrbdTools> tools, DomainId domain, GuestDisk disk, String resource, int volume) {
        this.tools = tools;
        this.domain = domain;
        this.disk = disk;
        this.resource = resource;
        this.volume = volume;
    }

    @Override
    public void writeInitial(long offset, ByteBuffer data) {
        throw new IllegalStateException("disk " + disk.name() + " of " + domain + " is replicated by DRBD "
                + "resource " + resource + "; the checkpoint stream must not carry its initial copy");
    }

    @Override
    public void stage(long epoch, List<DiskWrite> writes) {
        if (!writes.isEmpty()) {
            throw new IllegalStateException("disk " + disk.name() + " of " + domain + " is replicated by DRBD "
                    + "resource " + resource + "; epoch " + epoch + " carries " + writes.size()
                    + " disk writes for it, which DRBD has already delivered");
        }
    }

    @Override
    public void commit(long epoch) {
        // DRBD delivered the writes already (no barriers upstream)
    }

    @Override
    public void discardUncommitted() {
        // nothing staged
    }

    @Override
    public GuestDisk activate() throws Exception {
        DrbdTools t = tools.get();
        LOG.info("failover: promoting DRBD resource {} to Primary for {}", resource, domain);
        t.primary(resource);
        DrbdState.Resource r = t.events2Now(resource).state().resource(resource)
                .orElseThrow(() -> new DrbdRefusedException("DRBD resource " + resource + " vanished after "
                        + "drbdadm primary"));
        DrbdState.Device dev = r.device(volume).orElseThrow(() -> new DrbdRefusedException("DRBD resource "
                + resource + " has no volume " + volume + " after drbdadm primary"));
        if (dev.devicePath() == null) {
            throw new DrbdRefusedException("DRBD resource " + resource + " volume " + volume
                    + " reports no minor, so its device is unknown");
        }
        long size = dev.sizeKib() > 0 ? dev.sizeKib() * 1024 : disk.sizeBytes();
        LOG.info("DRBD resource {} is {} here; {} resumes on {} (disk {})", resource, r.role(), domain,
                dev.devicePath(), dev.disk());
        return new GuestDisk(disk.name(), DrbdDiskReplicator.NAME, dev.devicePath(), size);
    }

    @Override
    public void close() {
        // the resource stays as it is
    }
}
