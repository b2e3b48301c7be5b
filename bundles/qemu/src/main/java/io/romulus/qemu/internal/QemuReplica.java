package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

/**
 * The backup's copy of a QEMU guest: a RAM file on tmpfs that a restored QEMU maps as its guest RAM, plus the device
 * state of the last committed epoch. Writers take the write lock per epoch, so an activation (which takes it too)
 * sees whole epochs only (invariant I2).
 */
final class QemuReplica implements Replica {

    private final QemuHypervisor owner;
    private final ReplicaSpec spec;
    private final GuestOptions options;
    private final Path dir;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private GuestRam ram;
    private byte[] deviceState;
    private volatile long committed = -1;
    private boolean activated;

    QemuReplica(QemuHypervisor owner, ReplicaSpec spec, GuestOptions options, Path dir) throws HypervisorException {
        this.owner = owner;
        this.spec = spec;
        this.options = options;
        this.dir = dir;
        try {
            Files.createDirectories(dir);
            this.ram = GuestRam.create(dir.resolve("ram"), spec.memoryBytes(), spec.pageSize());
        } catch (IOException e) {
            QemuHypervisor.deleteTree(dir);
            throw new HypervisorException("cannot create the replica RAM file of " + spec.id() + " in " + dir + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public ReplicaSpec spec() {
        return spec;
    }

    private GuestRam usable() throws HypervisorException {
        if (ram == null) {
            throw new HypervisorException("the replica of " + spec.id() + " is " + (activated ? "activated" : "closed"));
        }
        return ram;
    }

    @Override
    public void writeInitial(long[] pfns, int from, int count, ByteBuffer pages) throws HypervisorException {
        lock.writeLock().lock();
        try {
            usable().copyIn(pfns, from, count, pages.duplicate());
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
        lock.writeLock().lock();
        try {
            usable().copyIn(epoch.pfns(), 0, epoch.pageCount(), epoch.pages().duplicate());
            deviceState = epoch.deviceState().clone();
            committed = epoch.epoch();
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public long committedEpoch() {
        return committed;
    }

    @Override
    public void readPage(long pfn, ByteBuffer dst) throws HypervisorException {
        lock.readLock().lock();
        try {
            usable().readPage(pfn, dst);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Starts QEMU on the replica's RAM file, loads the committed device state into it, lets it run and announces its
     * MAC address.
     */
    @Override
    public ProtectedDomain activate() throws HypervisorException {
        return activate(List.of());
    }

    /**
     * Starts QEMU on the replica's RAM file with {@code disks} (the backup's copy of the guest's disk, as of the same
     * committed checkpoint, served by this node), loads the committed device state into it, lets it run and announces
     * its MAC address.
     */
    @Override
    public ProtectedDomain activate(List<GuestDisk> disks) throws HypervisorException {
        if (disks.size() != (options.diskMib() > 0 ? 1 : 0)) {
            throw new HypervisorException(spec.id() + " has " + (options.diskMib() > 0 ? "one disk" : "no disk")
                    + ", and the replica was given " + disks.size() + " to resume with");
        }
        lock.writeLock().lock();
        try {
            usable();
            if (committed < 0 || deviceState == null || deviceState.length == 0) {
                throw new HypervisorException("no committed checkpoint with a device state to activate for "
                        + spec.id());
            }
            Path stateFile = dir.resolve("device-state.committed");
            try {
                Files.write(stateFile, deviceState);
            } catch (IOException e) {
                throw new HypervisorException("cannot write the device state of " + spec.id() + ": " + e.getMessage(),
                        e);
            }
            QemuDomain d = owner.activate(spec.id(), options, dir, stateFile, committed,
                    disks.isEmpty() ? null : disks.get(0));
            activated = true;
            ram = null;
            return d;
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (ram != null) {
                ram = null;
                QemuHypervisor.deleteTree(dir);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }
}
