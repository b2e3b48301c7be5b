package io.romulus.xen.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.xen.internal.image.ReplicaImage;
import io.romulus.xen.internal.image.XenDeviceState;
import io.romulus.xen.internal.libvirt.DomainXml;

/**
 * The backup side of a protected Xen domain: a Xen domain image file (libvirt's libxl header and XML, a libxl
 * stream v2 around a libxc migration stream v3) that after every committed epoch is a complete image of exactly that
 * epoch. Pages are written in place, the device state's records are rewritten at commit, and failover is Xen's own
 * restore: {@code virDomainRestore} of the file.
 *
 * <p>Invariant I2: an epoch's pages and its device state are applied under one lock, and {@link #activate()} takes
 * the same lock, so a restore never reads half an epoch. A failed apply marks the replica unusable.
 *
 * <p>Hand-over: {@link #detach()} closes the image but keeps it, and writes what the replica knows of itself (its
 * spec, committed epoch and that epoch's device state) next to it, in {@code NAME.xenimg.replica}; {@link #adopt}
 * makes a new replica of the two, in this binding instance or in a later revision of it. A replica without a
 * committed epoch, or an unusable one, has nothing worth adopting: detaching it drops it.
 */
final class XenReplica implements Replica {

    private static final Logger LOG = LoggerFactory.getLogger(XenReplica.class);

    /** Restores the image and takes hold of the domain it produced. */
    interface Activator {
        ProtectedDomain restore(ReplicaSpec spec, Path image, XenDeviceState state) throws HypervisorException;
    }

    private final ReplicaSpec spec;
    private final ReplicaImage image;
    private final Activator activator;
    private long committed = -1;
    private XenDeviceState state;
    private String broken;
    private boolean activated;
    private boolean detached;

    XenReplica(ReplicaSpec spec, Path file, Activator activator) throws HypervisorException {
        if (spec.pageSize() != GuestMemory.PAGE_SIZE) {
            throw new HypervisorException("a Xen replica has 4096-byte pages, the primary announced " + spec.pageSize());
        }
        this.spec = spec;
        this.activator = activator;
        try {
            Files.createDirectories(file.getParent());
            Files.deleteIfExists(recordOf(file));
            this.image = ReplicaImage.create(file, spec.pageCount());
        } catch (IOException e) {
            throw new HypervisorException("cannot create the replica image " + file + ": " + e.getMessage(), e);
        }
        LOG.info("Replica of {} kept as a Xen domain image at {} ({} pages)", spec.id(), file, spec.pageCount());
    }

    private XenReplica(ReplicaSpec spec, ReplicaImage image, long committed, XenDeviceState state,
            Activator activator) {
        this.spec = spec;
        this.image = image;
        this.committed = committed;
        this.state = state;
        this.activator = activator;
    }

    /** Where a detached replica of the image {@code file} keeps what it knows of itself. */
    static Path recordOf(Path file) {
        return file.resolveSibling(file.getFileName() + ".replica");
    }

    /**
     * Adopts the replica that was detached into {@code file} and its record: at its committed epoch, with the
     * image's device records written anew from the record. The record is consumed.
     *
     * @return the replica, or empty when there is no detached replica for {@code spec} (none, or one made for
     *         another spec, which is then left as it is for {@link XenHypervisor#createReplica} to replace)
     */
    static Optional<XenReplica> adopt(ReplicaSpec spec, Path file, Activator activator) throws HypervisorException {
        Path recordFile = recordOf(file);
        HandOver.ReplicaRecord record;
        try {
            record = HandOver.ReplicaRecord.read(recordFile);
        } catch (IOException e) {
            LOG.warn("The hand-over record of the replica of {} cannot be read: {}", spec.id(), e.getMessage());
            return Optional.empty();
        }
        if (record == null) {
            return Optional.empty();
        }
        if (!record.spec().equals(spec)) {
            LOG.info("The detached replica of {} was made for {}, not {}: not adopted", spec.id(), record.spec(), spec);
            return Optional.empty();
        }
        XenDeviceState state = XenDeviceState.decode(record.deviceState());
        ReplicaImage image;
        try {
            image = ReplicaImage.open(file, spec.pageCount());
        } catch (IOException e) {
            LOG.warn("The detached replica of {} cannot be adopted: {}", spec.id(), e.getMessage());
            return Optional.empty();
        }
        try {
            image.apply(state);
            Files.delete(recordFile);
        } catch (IOException | IllegalArgumentException e) {
            try {
                image.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new HypervisorException("cannot adopt the replica of " + spec.id() + " in " + file + ": "
                    + e.getMessage(), e);
        }
        LOG.info("Adopted the replica of {} at epoch {} from {}", spec.id(), record.committed(), file);
        return Optional.of(new XenReplica(spec, image, record.committed(), state, activator));
    }

    Path file() {
        return image.file();
    }

    @Override
    public ReplicaSpec spec() {
        return spec;
    }

    @Override
    public synchronized void writeInitial(long[] pfns, int from, int count, ByteBuffer pages)
            throws HypervisorException {
        usable();
        try {
            image.writePages(pfns, from, count, pages);
        } catch (IOException | IllegalArgumentException e) {
            broken = "initial copy failed: " + e.getMessage();
            throw new HypervisorException("replica of " + spec.id() + ": " + broken, e);
        }
    }

    @Override
    public synchronized void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
        usable();
        XenDeviceState next = XenDeviceState.decode(epoch.deviceState());
        if (next.slotCount() != spec.pageCount()) {
            broken = "epoch " + epoch.epoch() + " describes " + next.slotCount() + " populated pages, the replica has "
                    + spec.pageCount();
            throw new HypervisorException("replica of " + spec.id() + ": " + broken);
        }
        try {
            epoch.writePages(spec.pageSize(), image::writePages);
            image.apply(next);
        } catch (IOException | IllegalArgumentException e) {
            broken = "applying epoch " + epoch.epoch() + " failed: " + e.getMessage();
            throw new HypervisorException("replica of " + spec.id() + ": " + broken, e);
        }
        state = next;
        committed = epoch.epoch();
    }

    @Override
    public synchronized long committedEpoch() {
        return committed;
    }

    @Override
    public synchronized void readPage(long pfn, ByteBuffer dst) throws HypervisorException {
        usable();
        try {
            image.readPage(pfn, dst);
        } catch (IOException | IllegalArgumentException e) {
            throw new HypervisorException("replica of " + spec.id() + ": cannot read page " + pfn + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public synchronized ProtectedDomain activate() throws HypervisorException {
        return activate(List.of());
    }

    /**
     * Failover with the domain's disks as the disk replicators made them usable here: the image's XML is rewritten to
     * attach them (a file, a block device, a promoted DRBD device) before libvirt restores it.
     */
    @Override
    public synchronized ProtectedDomain activate(List<GuestDisk> disks) throws HypervisorException {
        usable();
        if (committed >= 0 && !disks.isEmpty()) {
            Map<String, GuestDisk> byTarget = new LinkedHashMap<>();
            for (GuestDisk d : disks) {
                byTarget.put(d.name(), d);
            }
            String xml = DomainXml.parse(state.domainXml()).withDiskSources(byTarget);
            XenDeviceState attached = new XenDeviceState(state.xenMajor(), state.xenMinor(), state.domainType(), xml,
                    state.gpfnRanges(), state.cpuidPolicy(), state.msrPolicy(), state.tsc(), state.hvmParams(),
                    state.hvmContext(), state.emulatorXenstore(), state.emulatorContext());
            try {
                image.apply(attached);
            } catch (IOException | IllegalArgumentException e) {
                throw new HypervisorException("replica of " + spec.id() + ": cannot attach its disks to the image: "
                        + e.getMessage(), e);
            }
            state = attached;
            LOG.info("Replica of {} restores with its disks: {}", spec.id(), disks);
        }
        if (committed < 0) {
            throw new HypervisorException("replica of " + spec.id() + " has no committed epoch yet: nothing to resume");
        }
        if (activated) {
            throw new HypervisorException("replica of " + spec.id() + " was activated already");
        }
        activated = true;
        LOG.info("Activating {} from epoch {}: restoring {}", spec.id(), committed, image.file());
        closeImage();
        return activator.restore(spec, image.file(), state);
    }

    private void closeImage() {
        try {
            image.close();
        } catch (IOException e) {
            LOG.warn("closing the replica image {}: {}", image.file(), e.getMessage());
        }
    }

    private void usable() throws HypervisorException {
        if (detached) {
            throw new HypervisorException("replica of " + spec.id() + " was detached; adopt it again");
        }
        if (broken != null) {
            throw new HypervisorException("replica of " + spec.id() + " is unusable: " + broken);
        }
    }

    /**
     * Leaves the replica at its committed epoch for {@link #adopt}: the image stays, closed, and its record is written
     * next to it. A replica that never committed, or an unusable one, is dropped instead.
     */
    @Override
    public synchronized void detach() {
        if (detached || activated || !image.isOpen()) {
            return;
        }
        if (committed < 0 || broken != null) {
            LOG.info("Replica of {} detached {}: dropped", spec.id(), broken != null ? "unusable" : "before its first"
                    + " committed epoch");
            close();
            return;
        }
        try {
            new HandOver.ReplicaRecord(spec, committed, state.encode()).write(recordOf(image.file()));
        } catch (IOException e) {
            LOG.warn("Replica of {}: its hand-over record cannot be written ({}); it is dropped", spec.id(),
                    e.getMessage());
            close();
            return;
        }
        detached = true;
        closeImage();
        LOG.info("Replica of {} detached at epoch {}: {} stays for adoption", spec.id(), committed, image.file());
    }

    /** Drops the replica: the image goes. A detached replica is no longer this object's to drop. */
    @Override
    public synchronized void close() {
        if (detached) {
            return;
        }
        closeImage();
        if (!activated) {
            try {
                Files.deleteIfExists(image.file());
            } catch (IOException e) {
                LOG.warn("cannot delete the replica image {}: {}", image.file(), e.getMessage());
            }
        }
    }
}
