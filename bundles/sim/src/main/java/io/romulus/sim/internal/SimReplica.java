package io.romulus.sim.internal;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

/**
 * The backup's copy of a synthetic domain: off-heap memory plus the device state of the last committed epoch.
 *
 * <p>{@link #detach()} leaves the memory, the device state and the committed epoch with the binding, and
 * {@link SimHypervisor#adoptReplica} hands them to a new replica; the detached one then refuses everything. A replica
 * with no committed epoch has nothing worth adopting: detaching it drops it. Nothing survives an update of the sim
 * bundle itself.
 */
public final class SimReplica implements Replica {

    private enum State { USABLE, ACTIVATED, DETACHED, HANDED_OVER, CLOSED }

    private final SimHypervisor owner;
    private final ReplicaSpec spec;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private SimMemory memory;
    private byte[] deviceState;
    private volatile long committed = -1;
    private State state = State.USABLE;
    /** The NIC a switchover's "prepare" made for the activated domain, or null; guarded by the write lock. */
    private SimNic preparedNic;

    SimReplica(SimHypervisor owner, ReplicaSpec spec) {
        this.owner = owner;
        this.spec = spec;
        this.memory = new SimMemory(spec.memoryBytes());
    }

    SimReplica(SimHypervisor owner, ReplicaSpec spec, SimMemory memory, byte[] deviceState, long committed) {
        this.owner = owner;
        this.spec = spec;
        this.memory = memory;
        this.deviceState = deviceState;
        this.committed = committed;
    }

    @Override
    public ReplicaSpec spec() {
        return spec;
    }

    private SimMemory usable() throws HypervisorException {
        if (state != State.USABLE) {
            throw new HypervisorException("the replica of " + spec.id() + " is " + state.name().toLowerCase(
                    java.util.Locale.ROOT).replace('_', ' '));
        }
        return memory;
    }

    @Override
    public void writeInitial(long[] pfns, int from, int count, ByteBuffer pages) throws HypervisorException {
        lock.writeLock().lock();
        try {
            write(usable(), pfns, from, count, pages.duplicate());
        } finally {
            lock.writeLock().unlock();
        }
    }

    private static void write(SimMemory m, long[] pfns, int from, int count, ByteBuffer src) {
        for (int i = from; i < from + count; i++) {
            m.writePage(pfns[i], src);
        }
    }

    @Override
    public void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
        lock.writeLock().lock();
        try {
            SimMemory m = usable();
            dropPreparation();
            epoch.writePages(SimMemory.PAGE_SIZE, (pfns, from, count, src) -> write(m, pfns, from, count, src));
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

    /** The replica's memory, for byte-for-byte comparison with the primary's. */
    public SimMemory memory() {
        lock.readLock().lock();
        try {
            return memory;
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public ProtectedDomain activate() throws HypervisorException {
        return activate(false);
    }

    /**
     * Switchover, at "prepare": makes the NIC the activated domain will have, so that the engine can hold its output
     * before "go" ({@link #preparedInterfaces()}).
     */
    @Override
    public boolean prepareActivation(List<GuestDisk> disks) throws HypervisorException {
        lock.writeLock().lock();
        try {
            usable();
            if (committed < 0 || !disks.isEmpty()) {
                return false;
            }
            if (preparedNic == null) {
                preparedNic = owner.prepareNic(spec.id());
            }
            return true;
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public List<GuestInterface> preparedInterfaces() {
        lock.readLock().lock();
        try {
            return preparedNic == null ? List.of() : List.of(preparedNic.description());
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void unprepare() {
        lock.writeLock().lock();
        try {
            dropPreparation();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Under the write lock: the NIC a preparation made goes (a checkpoint is applied, or the switchover aborted). */
    private void dropPreparation() {
        if (preparedNic != null) {
            owner.unprepareNic(preparedNic);
            preparedNic = null;
        }
    }

    /** Switchover: the domain starts paused, so that the engine starts its dirty log before it runs. */
    @Override
    public ProtectedDomain activatePaused(List<GuestDisk> disks) throws HypervisorException {
        if (!disks.isEmpty()) {
            throw new HypervisorException("a synthetic domain has no disks");
        }
        return activate(true);
    }

    private ProtectedDomain activate(boolean paused) throws HypervisorException {
        lock.writeLock().lock();
        try {
            SimMemory m = usable();
            if (committed < 0) {
                throw new HypervisorException("no committed epoch to activate for " + spec.id());
            }
            SimDomain d = owner.activate(spec, m, deviceState, paused, preparedNic);
            preparedNic = null;
            state = State.ACTIVATED;
            memory = null;
            return d;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Starts {@code clone}, a synthetic domain of its own, from a copy of the replica's memory and device state at its
     * committed epoch (taken between two applies), with the replica's options and {@code overrides} (the workload's;
     * the memory size is the replica's). The replica goes on applying epochs.
     */
    @Override
    public ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        if (!SimHypervisor.BINDING.equals(clone.binding())) {
            throw new HypervisorException("a clone of " + spec.id() + " is a synthetic domain (sim:NAME), not " + clone);
        }
        if (clone.equals(spec.id())) {
            throw new HypervisorException("a clone of " + spec.id() + " needs a name of its own");
        }
        Map<String, String> merged = new HashMap<>(spec.options());
        merged.putAll(overrides);
        SimOptions options;
        try {
            options = SimOptions.parse(merged);
        } catch (IllegalArgumentException e) {
            throw new HypervisorException("cannot start " + clone + " from the replica of " + spec.id() + ": "
                    + e.getMessage(), e);
        }
        if (options.memoryBytes() != spec.memoryBytes()) {
            throw new HypervisorException("cannot start " + clone + " from the replica of " + spec.id() + " with "
                    + "other memory: its memory is a copy of the replica's " + spec.memoryBytes() + " bytes");
        }
        SimMemory copy;
        byte[] state;
        long epoch;
        lock.readLock().lock();
        try {
            SimMemory m = usable();
            if (committed < 0) {
                throw new HypervisorException("cannot start " + clone + " from the replica of " + spec.id()
                        + ": no epoch was committed yet");
            }
            copy = m.copy();
            state = deviceState.clone();
            epoch = committed;
        } finally {
            lock.readLock().unlock();
        }
        return owner.fork(clone, spec.id(), epoch, options, copy, state);
    }

    /**
     * Leaves the replica at its committed epoch to the binding, for {@link SimHypervisor#adoptReplica}; one with no
     * committed epoch is dropped instead.
     */
    @Override
    public void detach() {
        lock.writeLock().lock();
        try {
            if (state != State.USABLE) {
                return;
            }
            if (committed < 0) {
                state = State.CLOSED;
                memory = null;
                return;
            }
            state = State.DETACHED;
        } finally {
            lock.writeLock().unlock();
        }
        owner.detached(this);
    }

    /** A new replica with this detached one's memory, device state and committed epoch. */
    SimReplica handOver() {
        lock.writeLock().lock();
        try {
            if (state != State.DETACHED) {
                throw new IllegalStateException("the replica of " + spec.id() + " is not detached");
            }
            SimReplica next = new SimReplica(owner, spec, memory, deviceState, committed);
            state = State.HANDED_OVER;
            memory = null;
            deviceState = null;
            return next;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Frees a detached replica that nobody will adopt. */
    void drop() {
        lock.writeLock().lock();
        try {
            state = State.CLOSED;
            memory = null;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Drops the replica; a detached one stays with the binding. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (state == State.DETACHED || state == State.HANDED_OVER) {
                return;
            }
            if (state == State.USABLE) {
                state = State.CLOSED;
            }
            dropPreparation();
            memory = null;
        } finally {
            lock.writeLock().unlock();
        }
    }
}
