package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.support.state.StateFile;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backup's copy of a QEMU guest: a RAM file on tmpfs that a restored QEMU maps as its guest RAM, plus the device
 * state of the last committed epoch. Writers take the write lock per epoch, so an activation (which takes it too)
 * sees whole epochs only (invariant I2).
 *
 * <p>{@link #detach()} hands the replica (RAM file, committed epoch and device state) to a new handle that
 * {@link QemuHypervisor#adoptReplica} returns; this handle is then unusable, and closing it does nothing. When the
 * binding itself stops, {@link #handOver()} writes the committed device state ({@value ReplicaStateFile#DEVICE_STATE})
 * and a {@link ReplicaStateFile} next to the RAM file, for the next version of the binding.
 *
 * <p>{@link #fork} copies the RAM file and the committed device state under the read lock (between two applies) into
 * the directory of a new guest, which then resumes from them in its own QEMU ({@link CloneDefinition} says what it
 * runs).
 *
 * <p>The QEMU kept ready for its failover is {@link ReplicaStandby}'s, and what a switchover's "prepare" loads into it
 * {@link SwitchoverPreparation}'s (under this replica's write lock).
 */
final class QemuReplica implements Replica {

    private static final Logger LOG = LoggerFactory.getLogger(QemuReplica.class);

    private final QemuReplicas owner;
    private final ReplicaSpec spec;
    private final VmDefinition vm;
    private final Path dir;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private GuestRam ram;
    private byte[] deviceState;
    private volatile long committed = -1;
    /** Why the replica is no longer usable here once {@link #ram} is null: activated, closed, detached. */
    private String gone = "closed";
    /**
     * Why the RAM file may hold part of an epoch (an apply that did not finish), or null; under the write lock. A torn
     * replica is never activated, forked or handed over, and takes no more epochs: a full copy replaces it.
     */
    private String torn;
    /** The QEMU kept ready for this handle's failover. */
    private final ReplicaStandby standby;
    /** What a switchover's "prepare" loaded into the standby; used under the write lock. */
    private final SwitchoverPreparation preparation;

    /** A new, empty replica in {@code dir}. */
    static QemuReplica create(QemuReplicas owner, ReplicaSpec spec, VmDefinition vm, Path dir)
            throws HypervisorException {
        try {
            Files.createDirectories(dir);
            return new QemuReplica(owner, spec, vm, dir, GuestRam.create(dir.resolve("ram"), spec.memoryBytes(),
                    spec.pageSize()), null, -1);
        } catch (IOException e) {
            RunDirectory.deleteTree(dir);
            throw new HypervisorException("cannot create the replica RAM file of " + spec.id() + " in " + dir + ": "
                    + e.getMessage(), e);
        }
    }

    /** Switchover: the RAM file {@code dir/ram} of a guest stopped at {@code epoch}, with its device state. */
    static QemuReplica kept(QemuReplicas owner, ReplicaSpec spec, VmDefinition vm, Path dir, byte[] deviceState,
            long epoch) throws HypervisorException {
        try {
            return new QemuReplica(owner, spec, vm, dir, GuestRam.map(dir.resolve("ram"), spec.memoryBytes(),
                    spec.pageSize()), deviceState.clone(), epoch);
        } catch (IOException e) {
            RunDirectory.deleteTree(dir);
            throw new HypervisorException("cannot map the RAM file of the stopped " + spec.id() + " in " + dir + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * The replica an earlier version of the binding {@linkplain #handOver() handed over} in {@code dir}, at the epoch
     * its state file names; the state file is removed, so that it describes no later state of the RAM file.
     */
    static QemuReplica adopt(QemuReplicas owner, Path dir, ReplicaStateFile state) throws IOException {
        ReplicaSpec spec = state.spec();
        GuestRam ram = GuestRam.map(dir.resolve("ram"), spec.memoryBytes(), spec.pageSize());
        Path stateFile = dir.resolve(ReplicaStateFile.DEVICE_STATE);
        byte[] device = Files.exists(stateFile) ? Files.readAllBytes(stateFile) : null;
        if (state.committedEpoch() >= 0 && device == null) {
            throw new IOException("the replica in " + dir + " committed epoch " + state.committedEpoch()
                    + " but its device state " + stateFile + " is missing");
        }
        QemuReplica r = new QemuReplica(owner, spec, owner.definitionOf(spec.id(), spec.options()), dir, ram, device,
                state.committedEpoch());
        Files.delete(dir.resolve(ReplicaStateFile.NAME));
        return r;
    }

    private QemuReplica(QemuReplicas owner, ReplicaSpec spec, VmDefinition vm, Path dir, GuestRam ram,
            byte[] deviceState, long committed) {
        this.owner = owner;
        this.spec = spec;
        this.vm = vm;
        this.dir = dir;
        this.ram = ram;
        this.deviceState = deviceState;
        this.committed = committed;
        this.standby = new ReplicaStandby(owner, spec.id(), vm, dir);
        this.preparation = new SwitchoverPreparation(owner, spec.id(), vm, standby);
    }

    Path dir() {
        return dir;
    }

    @Override
    public ReplicaSpec spec() {
        return spec;
    }

    private GuestRam usable() throws HypervisorException {
        if (ram == null) {
            throw new HypervisorException("the replica of " + spec.id() + " is " + gone);
        }
        return ram;
    }

    /** Under the lock. */
    private void refuseTorn() throws HypervisorException {
        if (torn != null) {
            throw new HypervisorException("the replica of " + spec.id() + " is not activated: " + torn);
        }
    }

    /** Whether an epoch with a device state was committed, which activation and forks resume; under the lock. */
    private boolean hasCommittedState() {
        return committed >= 0 && deviceState != null && deviceState.length > 0;
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
            GuestRam r = usable();
            if (torn != null) {
                throw new HypervisorException("the replica of " + spec.id() + " is torn: " + torn);
            }
            preparation.drop();
            try {
                epoch.writePages(spec.pageSize(), r::copyIn);
            } catch (RuntimeException | Error e) {
                // a full tmpfs under the RAM file raises SIGBUS, which the JVM reports as an InternalError here
                torn = "checkpoint " + epoch.epoch() + " was applied in part only (" + e + "), over checkpoint "
                        + committed;
                LOG.error("The replica of {} is torn and will not be activated: {}", spec.id(), torn, e);
                throw new HypervisorException("applying checkpoint " + epoch.epoch() + " to the replica of "
                        + spec.id() + " did not finish, the replica is torn: " + e, e);
            }
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
        return activate(disks, true);
    }

    /**
     * Switchover: as {@link #activate(List)}, into the standby where there is one, but the guest is left paused once
     * its device state is loaded; the engine starts its dirty log and then lets it run.
     */
    @Override
    public ProtectedDomain activatePaused(List<GuestDisk> disks) throws HypervisorException {
        return activate(disks, false);
    }

    private ProtectedDomain activate(List<GuestDisk> disks, boolean run) throws HypervisorException {
        if (disks.size() != vm.disks().size()) {
            throw new HypervisorException(spec.id() + " has " + vm.disks().size() + " disk(s), and the replica was "
                    + "given " + disks.size() + " to resume with");
        }
        lock.writeLock().lock();
        try {
            usable();
            refuseTorn();
            if (!hasCommittedState()) {
                throw new HypervisorException("no committed checkpoint with a device state to activate for "
                        + spec.id());
            }
            Path stateFile = writeDeviceState();
            SwitchoverPreparation.Taken prepared = preparation.take(committed, run);
            QemuDomain d = owner.activate(spec.id(), vm, dir, stateFile, committed, disks, standby.end(disks), run,
                    prepared.preloaded(), prepared.log());
            gone = "activated";
            ram = null;
            owner.replicaGone(this);
            return d;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** {@link #prepareActivation(List, Runnable)}, without telling when the MAC address moved. */
    @Override
    public boolean prepareActivation(List<GuestDisk> disks) throws HypervisorException {
        return prepareActivation(disks, () -> { });
    }

    /**
     * Switchover, at "prepare": moves the guest's MAC address to the standby's taps, runs {@code addressesMoved}, and
     * loads the committed device state into the standby (which stays stopped), so that {@link #activatePaused} only
     * lets it run and what clients send meanwhile waits here. Does nothing (false) without a standby that is up and
     * fits {@code disks}; one being started is not waited for.
     */
    @Override
    public boolean prepareActivation(List<GuestDisk> disks, Runnable addressesMoved) throws HypervisorException {
        lock.writeLock().lock();
        try {
            GuestRam r = usable();
            refuseTorn();
            if (!hasCommittedState()) {
                return false;
            }
            if (preparation.isAt(committed)) {
                return true;
            }
            Standby s = standby.current();
            if (s == null || !s.alive() || !s.fits(disks)) {
                return false;
            }
            preparation.load(s, writeDeviceState(), committed, r, addressesMoved);
            return true;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * The standby's NICs (its taps, which the activated guest keeps, and which a guest started cold gets under the
     * same names), so that the engine holds their output from "prepare" on, beside the preparation; empty without a
     * standby that is up.
     */
    @Override
    public List<GuestInterface> preparedInterfaces() {
        lock.readLock().lock();
        try {
            Standby s = standby.current();
            if (ram == null || s == null || !s.alive()) {
                return List.of();
            }
            return s.process().guestInterfaces(vm, owner.netns());
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Writes the committed device state next to the RAM file, for QEMU to load; returns the file. */
    private Path writeDeviceState() throws HypervisorException {
        Path stateFile = dir.resolve(ReplicaStateFile.DEVICE_STATE);
        try {
            Files.write(stateFile, deviceState);
        } catch (IOException e) {
            throw new HypervisorException("cannot write the device state of " + spec.id() + ": " + e.getMessage(), e);
        }
        return stateFile;
    }

    /** The prepared switchover did not happen: the standby, loaded with a device state, is replaced by a clean one. */
    @Override
    public void unprepare() {
        lock.writeLock().lock();
        try {
            preparation.drop();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Starts {@code clone}, a new guest of this node, from the replica's last committed epoch: copies the RAM file and
     * the committed device state into the clone's own directory while no epoch is being applied (the read lock), then
     * resumes them in a new QEMU, as a failover would, without the lock. The replica goes on applying epochs. What
     * the clone may differ in (its {@code bridge} only) is {@link CloneDefinition}'s.
     */
    @Override
    public ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        VmDefinition cloned = CloneDefinition.of(spec.id(), vm, clone, overrides);
        long started = System.nanoTime();
        Path cloneDir = owner.cloneDir(clone);
        Path stateFile = cloneDir.resolve(ReplicaStateFile.DEVICE_STATE);
        long epoch;
        try {
            epoch = copyCommitted(clone, cloneDir.resolve("ram"), stateFile);
        } catch (HypervisorException | RuntimeException e) {
            owner.cloneFailed(clone, cloneDir); // not under the lock: it takes the guests' monitor
            throw e;
        }
        return owner.startClone(clone, spec.id(), cloned, cloneDir, stateFile, epoch,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
    }

    /** Copies the RAM file and the committed device state between two applies; returns the epoch they are of. */
    private long copyCommitted(DomainId clone, Path ramCopy, Path stateCopy) throws HypervisorException {
        lock.readLock().lock();
        try {
            GuestRam source = usable();
            refuseTorn();
            if (!hasCommittedState()) {
                throw new HypervisorException("cannot start " + clone + " from the replica of " + spec.id()
                        + ": no epoch was committed yet");
            }
            Files.copy(source.file(), ramCopy, StandardCopyOption.REPLACE_EXISTING);
            Files.write(stateCopy, deviceState);
            return committed;
        } catch (IOException e) {
            throw new HypervisorException("cannot copy the replica of " + spec.id() + " for " + clone + ": "
                    + e.getMessage(), e);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Keeps a {@link Standby} ready for this replica's failover, with {@code disks}: starts one in the background
     * unless one that fits is up or starting, and starts it again if it died. Returns at once.
     */
    @Override
    public void standby(List<GuestDisk> disks) {
        standby.keep(disks);
    }

    /**
     * Hands the replica to a new handle, kept by the binding for {@link QemuHypervisor#adoptReplica}; waits for an
     * apply in progress. This handle is then unusable, and closing it does nothing.
     */
    @Override
    public void detach() {
        lock.writeLock().lock();
        try {
            if (ram != null) {
                preparation.drop();
                QemuReplica next = new QemuReplica(owner, spec, vm, dir, ram, deviceState, committed);
                next.torn = torn;
                standby.handTo(next.standby);
                ram = null;
                gone = "detached";
                owner.replicaDetached(this, next);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * The binding stops (its bundle is updated): writes the committed device state and a {@link ReplicaStateFile}
     * next to the RAM file, for the next version of the binding, and makes this handle unusable (closing it does
     * nothing). Waits for an apply in progress. If the files cannot be written the replica is dropped and this throws.
     */
    void handOver() throws IOException {
        lock.writeLock().lock();
        try {
            if (ram == null) {
                return;
            }
            standby.close(); // the next version of the binding starts its own
            ram = null;
            gone = "handed over to the next version of the binding";
            if (torn != null) {
                RunDirectory.deleteTree(dir);
                throw new IOException("the replica of " + spec.id() + " is torn (" + torn + "); not handed over");
            }
            try {
                if (deviceState != null) {
                    StateFile.writeAtomically(dir.resolve(ReplicaStateFile.DEVICE_STATE), deviceState);
                }
                new ReplicaStateFile(spec, committed).write(dir);
            } catch (IOException e) {
                RunDirectory.deleteTree(dir);
                throw new IOException("cannot hand over the replica of " + spec.id() + " in " + dir + ": "
                        + e.getMessage(), e);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (ram != null) {
                preparation.drop();
                standby.close();
                ram = null;
                RunDirectory.deleteTree(dir);
                owner.replicaGone(this);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }
}
