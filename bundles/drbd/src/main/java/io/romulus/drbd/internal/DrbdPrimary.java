package io.romulus.drbd.internal;

import java.util.List;
import java.util.function.Supplier;

import io.romulus.api.disk.DiskReplicator.ChunkSink;
import io.romulus.api.disk.DiskReplicator.Primary;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The primary side of a disk DRBD replicates: DRBD moves the data; epochs need nothing from it. */
final class DrbdPrimary implements Primary {

    private static final Logger LOG = LoggerFactory.getLogger(DrbdPrimary.class);

    private final String what;
    private final Supplier<DrbdTools> tools;
    private final DomainId domain;
    private final GuestDisk disk;

    /**
     * @param what  the volume, as messages name it
     * @param tools the DRBD tools configured when a switchover comes
     */
    DrbdPrimary(String what, Supplier<DrbdTools> tools, DomainId domain, GuestDisk disk) {
        this.what = what;
        this.tools = tools;
        this.domain = domain;
        this.disk = disk;
    }

    @Override
    public void initialCopy(ChunkSink sink) {
        // DRBD's own (re)sync made the peer UpToDate; the checks before protection saw it. Nothing travels in the
        // stream.
        LOG.debug("{}: initial copy is DRBD's resync, already complete", what);
    }

    @Override
    public List<DiskWrite> barrier(long epoch) {
        return List.of();
    }

    @Override
    public void committed(long epoch) {
        // no barrier to release: upstream DRBD has none
    }

    /**
     * Planned switchover, on the old primary, whose domain stopped (so nothing holds the device open): the resource
     * is demoted here ({@code drbdadm secondary RES}) before the new primary promotes its side (invariant I5: never
     * two Primaries). No fallback to {@code outdate}: this side is the new primary's backup, its data must stay
     * promotable. Returns the backup side over the same resource.
     *
     * @throws DrbdCommandException when DRBD refuses to demote it (the new primary could not promote its side)
     */
    @Override
    public DrbdBackup handOver(long epoch) throws DrbdCommandException, DrbdRefusedException {
        DrbdTools t = tools.get();
        DrbdVolumeRef ref = DrbdVolumeRef.parse(disk.source());
        DrbdResourceChecks.Located at = ref.byMinor() ? DrbdResourceChecks.locate(t, ref) : null;
        String resource = at == null ? ref.resource() : at.resource().name();
        int volume = at == null ? ref.volume() : at.volume();
        t.secondary(resource);
        LOG.info("switchover of {} at checkpoint {}: DRBD resource {} demoted to Secondary on this host; the new "
                + "primary promotes its side", domain, epoch, resource);
        return new DrbdBackup(tools, domain, disk, resource, volume);
    }

    @Override
    public void close() {
        LOG.debug("{}: no longer coordinated (DRBD keeps replicating)", what);
    }
}
