package io.romulus.sim.internal;

import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

/** The backup's copy of a synthetic domain: off-heap memory plus the device state of the last committed epoch. */
public final class SimReplica implements Replica {

    private final SimHypervisor owner;
    private final ReplicaSpec spec;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private SimMemory memory;
    private byte[] deviceState;
    private volatile long committed = -1;
    private boolean activated;

    SimReplica(SimHypervisor owner, ReplicaSpec spec) {
        this.owner = owner;
        this.spec = spec;
        this.memory = new SimMemory(spec.memoryBytes());
    }

    @Override
    public ReplicaSpec spec() {
        return spec;
    }

    private SimMemory usable() throws HypervisorException {
        if (memory == null) {
            throw new HypervisorException("the replica of " + spec.id() + " is " + (activated ? "activated" : "closed"));
        }
        return memory;
    }

    @Override
    public void writeInitial(long[] pfns, int from, int count, ByteBuffer pages) throws HypervisorException {
        lock.writeLock().lock();
        try {
            SimMemory m = usable();
            ByteBuffer src = pages.duplicate();
            for (int i = from; i < from + count; i++) {
                m.writePage(pfns[i], src);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
        lock.writeLock().lock();
        try {
            SimMemory m = usable();
            ByteBuffer src = epoch.pages().duplicate();
            for (int i = 0; i < epoch.pageCount(); i++) {
                m.writePage(epoch.pfns()[i], src);
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
        lock.writeLock().lock();
        try {
            SimMemory m = usable();
            if (committed < 0) {
                throw new HypervisorException("no committed epoch to activate for " + spec.id());
            }
            SimDomain d = owner.activate(spec, m, deviceState);
            activated = true;
            memory = null;
            return d;
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            memory = null;
        } finally {
            lock.writeLock().unlock();
        }
    }
}
