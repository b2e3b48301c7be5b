package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
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
import io.romulus.qemu.internal.dirty.DirtyTracker;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;
import io.romulus.support.state.StateFile;

import com.google.errorprone.annotations.concurrent.GuardedBy;

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
 * the directory of a new guest, which then resumes from them in its own QEMU.
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
    /** The standby's state; never held while waiting for the replica's lock. */
    private final Object standbyLock = new Object();
    @GuardedBy("standbyLock")
    private Standby standby;
    @GuardedBy("standbyLock")
    private boolean standbyStarting;
    /** Activated, closed, detached or handed over: no more standbys for this handle. */
    @GuardedBy("standbyLock")
    private boolean standbyEnded;
    /**
     * A switchover's "prepare" loaded the committed device state into the standby and moved the MAC address here:
     * the epoch it loaded, or -1. Written under the write lock.
     */
    private volatile long prepared = -1;
    /**
     * The dirty log of the prepared standby, started at "prepare" (it is stopped: nothing is written until it runs),
     * which the switchover's activation hands to the domain; null without. Under the write lock.
     */
    private DirtyTracker preparedLog;

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
            dropPreparation();
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
            if (committed < 0 || deviceState == null || deviceState.length == 0) {
                throw new HypervisorException("no committed checkpoint with a device state to activate for "
                        + spec.id());
            }
            Path stateFile = writeDeviceState();
            boolean preloaded = prepared == committed;
            prepared = -1;
            DirtyTracker log = preparedLog;
            preparedLog = null;
            if (log != null && (run || !preloaded)) {
                log.close(); // a failover starts the log when the engine protects the domain
                log = null;
            }
            QemuDomain d = owner.activate(spec.id(), vm, dir, stateFile, committed, disks, endStandby(disks), run,
                    preloaded, log);
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
            usable();
            refuseTorn();
            if (committed < 0 || deviceState == null || deviceState.length == 0) {
                return false;
            }
            if (prepared == committed) {
                return true;
            }
            Standby s;
            synchronized (standbyLock) {
                s = standbyEnded || standbyStarting ? null : standby;
            }
            if (s == null || !s.alive() || !s.fits(disks)) {
                return false;
            }
            Path stateFile = writeDeviceState();
            long ms;
            try {
                ms = owner.preload(spec.id(), vm, s, stateFile, addressesMoved);
            } catch (HypervisorException e) {
                dropPreparation(); // its QEMU was killed: the next standby() starts a clean one
                throw e;
            }
            prepared = committed;
            String log = startPreparedLog(s);
            LOG.info("Prepared the switchover of {} at checkpoint {}: device state loaded into the standby and MAC "
                    + "address moved here in {} ms{}", spec.id(), committed, ms, log);
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
            Standby s;
            synchronized (standbyLock) {
                s = standbyEnded || standbyStarting ? null : standby;
            }
            if (ram == null || s == null || !s.alive()) {
                return List.of();
            }
            return s.process().guestInterfaces(vm, owner.netns());
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Starts the prepared standby's userfaultfd dirty log, so that "go" does not wait for it: the standby is stopped
     * and writes nothing until it runs. Under the write lock; returns what to log of it. Where it cannot, the engine
     * starts the log after "go", as without a preparation.
     */
    private String startPreparedLog(Standby s) {
        if (!owner.uffdLog()) {
            return "";
        }
        long start = System.nanoTime();
        try {
            preparedLog = QemuDomain.startUffdLog(s.process().pid(), ram);
            return ", dirty log started in " + TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - start) + " us";
        } catch (IOException | HypervisorException | RuntimeException e) {
            LOG.warn("{}: starting the dirty log of the prepared standby failed ({}); it starts after \"go\"",
                    spec.id(), e.getMessage());
            return "";
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
            dropPreparation();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Kills a standby that a switchover's "prepare" loaded (it cannot take another device state); the engine's next
     * {@link #standby} starts a clean one. Under the write lock.
     */
    private void dropPreparation() {
        if (preparedLog != null) {
            preparedLog.close();
            preparedLog = null;
        }
        if (prepared < 0) {
            return;
        }
        prepared = -1;
        Standby s;
        synchronized (standbyLock) {
            s = standby;
            standby = null;
        }
        if (s != null) {
            LOG.info("The switchover of {} did not happen: its prepared standby is replaced by a clean one", spec.id());
            s.close();
        }
    }

    /**
     * Starts {@code clone}, a new guest of this node, from the replica's last committed epoch: copies the RAM file and
     * the committed device state into the clone's own directory while no epoch is being applied (the read lock), then
     * resumes them in a new QEMU, as a failover would, without the lock. The replica goes on applying epochs.
     *
     * <p>The clone resumes the guest as it runs at that epoch; it does not boot. So only what the host does with it can
     * differ: its {@code bridge}. Its machine (memory, vCPUs, NIC, MAC) must fit the device state, and what the guest
     * took from its kernel command line when it booted (ip, port, workload) it keeps: overriding those is refused
     * rather than silently ignored. A guest with a disk cannot be cloned: its disk is not part of the replica.
     */
    @Override
    public ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        VmDefinition cloned = cloneOptions(clone, overrides);
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
            if (committed < 0 || deviceState == null || deviceState.length == 0) {
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

    /** The machine of clone {@code clone}: the replica's, with {@code overrides}, of which only bridge may differ. */
    private VmDefinition cloneOptions(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        if (!QemuHypervisor.BINDING.equals(clone.binding())) {
            throw new HypervisorException("a clone of " + spec.id() + " is a QEMU guest (qemu:NAME), not " + clone);
        }
        if (clone.equals(spec.id())) {
            throw new HypervisorException("a clone of " + spec.id() + " needs a name of its own");
        }
        if (!vm.disks().isEmpty()) {
            throw new HypervisorException("cloning a guest with a disk is not supported: its disk(s) ("
                    + String.join(", ", vm.disks().stream().map(VmDisk::dev).toList()) + ") are replicated apart "
                    + "from its replica, which has no copy of them for " + clone);
        }
        Set<String> refused = new TreeSet<>(overrides.keySet());
        refused.remove("bridge");
        if (!refused.isEmpty()) {
            throw new HypervisorException("cannot start " + clone + " from the replica of " + spec.id() + " with "
                    + "other " + String.join(", ", refused) + ": a clone resumes the guest as it runs at the replica's "
                    + "epoch, it does not boot, so its machine and what it took when it booted are the replica's ("
                    + vm.toMap() + "); a clone may override bridge only");
        }
        try {
            return overrides.containsKey("bridge") ? vm.withBridge(overrides.get("bridge")) : vm;
        } catch (IllegalArgumentException e) {
            throw new HypervisorException("cannot start " + clone + " from the replica of " + spec.id() + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * Keeps a {@link Standby} ready for this replica's failover, with {@code disks}: starts one in the background
     * unless one that fits is up or starting, and starts it again if it died. Returns at once.
     */
    @Override
    public void standby(List<GuestDisk> disks) {
        if (!owner.standbyWanted()) {
            return;
        }
        Standby stale;
        synchronized (standbyLock) {
            if (standbyEnded || standbyStarting) {
                return;
            }
            stale = standby;
            if (stale != null && stale.alive() && stale.fits(disks)) {
                return;
            }
            if (stale != null) {
                LOG.warn("The {} {}; starting another", stale, stale.alive() ? "has other disks than failover would "
                        + "attach now" : "died");
            }
            standby = null;
            standbyStarting = true;
        }
        owner.startStandby(() -> {
            if (stale != null) {
                stale.close();
            }
            startStandby(disks);
        });
    }

    /** On the binding's standby thread: starts the standby, and keeps it unless the replica ended meanwhile. */
    private void startStandby(List<GuestDisk> disks) {
        Standby started = null;
        try {
            started = owner.launchStandby(spec.id(), vm, dir, disks);
        } catch (HypervisorException e) {
            LOG.warn("Cannot start a standby QEMU for the replica of {} (failover will start QEMU): {}", spec.id(),
                    e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        boolean keep;
        synchronized (standbyLock) {
            standbyStarting = false;
            keep = !standbyEnded;
            if (keep) {
                standby = started;
            }
            standbyLock.notifyAll();
        }
        if (!keep && started != null) {
            started.close();
        }
    }

    /**
     * Ends standbys for this handle, waiting for one being started: returns the standby if it is alive and (unless
     * {@code disks} is null) fits {@code disks}, and kills it otherwise.
     */
    private Standby endStandby(List<GuestDisk> disks) {
        Standby s;
        synchronized (standbyLock) {
            // a standby being started is waited for and then taken (ending first would make its start drop it)
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (standbyStarting && System.nanoTime() < deadline) {
                try {
                    standbyLock.wait(TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()) + 1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            standbyEnded = true;
            s = standby;
            standby = null;
        }
        if (s != null && !(s.alive() && (disks == null || s.fits(disks)))) {
            s.close();
            return null;
        }
        return s;
    }

    private void closeStandby() {
        Standby s = endStandby(null);
        if (s != null) {
            s.close();
        }
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
                dropPreparation();
                QemuReplica next = new QemuReplica(owner, spec, vm, dir, ram, deviceState, committed);
                next.torn = torn;
                Standby kept = endStandby(null);
                if (kept != null) {
                    synchronized (next.standbyLock) {
                        next.standby = kept;
                    }
                }
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
            closeStandby(); // the next version of the binding starts its own
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
                dropPreparation();
                closeStandby();
                ram = null;
                RunDirectory.deleteTree(dir);
                owner.replicaGone(this);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }
}
