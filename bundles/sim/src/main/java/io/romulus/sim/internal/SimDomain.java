package io.romulus.sim.internal;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletionStage;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

/**
 * A handle on a synthetic domain (not a VM): what {@link SimHypervisor#open}, {@link SimHypervisor#adopt} and
 * {@link SimReplica#activate()} return. The domain itself ({@link SimGuest}: off-heap memory, the workload thread,
 * the dirty bitmap, the synthetic NIC) belongs to the binding.
 *
 * <p>{@link #close()} stops the domain: the sim binding's domains do not outlive their protection.
 * {@link #detach()} lets go of it instead: the workload goes on and its dirty log keeps logging, and
 * {@link SimHypervisor#adopt} returns a new handle on it whose first {@link #harvestDirty()} returns what was written
 * since this handle's last harvest. After {@code detach()} this handle only observes (memory, counters, digest);
 * what would drive the domain throws {@link IllegalStateException} ({@link HypervisorException} where the method
 * declares it), and {@code close()} does nothing.
 */
public final class SimDomain implements ProtectedDomain {

    private final SimHypervisor owner;
    private final SimGuest guest;
    private final boolean adopted;
    /** Guarded by {@code owner}: handed to an engine by open, adopt or the engine that activated it. */
    boolean opened;
    private volatile boolean detached;

    SimDomain(SimHypervisor owner, SimGuest guest, boolean adopted) {
        this.owner = owner;
        this.guest = guest;
        this.adopted = adopted;
    }

    SimGuest guest() {
        return guest;
    }

    /** Whether this handle was detached (it then only observes the domain). */
    public boolean isDetached() {
        return detached;
    }

    private void driving() {
        if (detached) {
            throw new IllegalStateException("this handle on " + guest.id() + " was detached; adopt the domain again");
        }
    }

    /**
     * When the guest's first packet left it: this handle's guest is new in this node (activated from a replica, or
     * created), so its first packet is its first since it ran here.
     */
    @Override
    public CompletionStage<OptionalLong> firstFrameAfterActivation() {
        return guest.nic().firstFrame().copy();
    }

    /** Writes one long into a page as the guest would (tests use it to dirty chosen pages). */
    public void write(long pfn, int offset, long value) {
        guest.write(pfn, offset, value);
    }

    /**
     * Writes {@code value + pfn} into each page {@code pfn} of {@code [from, to)} in one step, between two pauses, so
     * that one checkpoint holds them all (tests use it for a checkpoint of a chosen size).
     */
    public void writeRange(long from, long to, long value) {
        guest.writeRange(from, to, value);
    }

    @Override
    public DomainInfo info() {
        return guest.info();
    }

    String description() {
        return guest.description();
    }

    @Override
    public void pause() {
        driving();
        guest.pause();
    }

    @Override
    public void resume() {
        driving();
        guest.resume();
    }

    public boolean isPaused() {
        return guest.isPaused();
    }

    /** Starts the dirty log; on an adopted domain whose log runs, keeps what it holds. */
    @Override
    public void startDirtyLog() {
        driving();
        guest.startDirtyLog(adopted);
    }

    @Override
    public long[] harvestDirty() throws HypervisorException {
        if (detached) {
            throw new HypervisorException("this handle on " + guest.id() + " was detached; adopt the domain again");
        }
        return guest.harvestDirty();
    }

    @Override
    public void stopDirtyLog() {
        driving();
        guest.stopDirtyLog();
    }

    @Override
    public void copyPages(long[] pfns, int from, int count, ByteBuffer staging) {
        driving();
        guest.copyPages(pfns, from, count, staging);
    }

    @Override
    public byte[] captureDeviceState() {
        driving();
        return guest.captureDeviceState();
    }

    @Override
    public List<GuestInterface> networkInterfaces() {
        return List.of(guest.nic().description());
    }

    @Override
    public List<GuestDisk> disks() {
        return List.of();
    }

    SimNic nic() {
        return guest.nic();
    }

    public DomainId id() {
        return guest.id();
    }

    public SimOptions options() {
        return guest.options();
    }

    public SimMemory memory() {
        return guest.memory();
    }

    /** Writes made by the guest so far (restored on activation). */
    public long writeCount() {
        return guest.writeCount();
    }

    /** The last packet sequence number emitted (restored on activation). */
    public long nicSequence() {
        return guest.nicSequence();
    }

    /** CRC32C of the whole memory, taken between two guest ticks. */
    public int digest() {
        return guest.digest();
    }

    public boolean isStopped() {
        return guest.isStopped();
    }

    /**
     * Lets go of the domain without stopping it: a paused domain runs again, the workload goes on, the dirty log
     * keeps logging, and {@link SimHypervisor#adopt} hands the domain to a new handle. Does nothing on a handle
     * detached already or on a stopped domain.
     */
    @Override
    public void detach() {
        owner.detach(this);
    }

    void markDetached() {
        detached = true;
    }

    /**
     * Switchover: the domain stops for good and its memory and device state become a replica committed at
     * {@code epoch}.
     */
    @Override
    public Replica stopAsReplica(ReplicaSpec spec, long epoch) throws HypervisorException {
        if (detached) {
            throw new HypervisorException("this handle on " + guest.id() + " was detached; adopt the domain again");
        }
        if (!guest.isPaused()) {
            throw new HypervisorException(guest.id() + " runs: it is kept as a replica only while paused");
        }
        return owner.stopAsReplica(this, spec, epoch);
    }

    /** Stops the synthetic domain; a detached handle does not (the domain is no longer its own). */
    @Override
    public void close() {
        if (detached) {
            return;
        }
        guest.stop();
        owner.forget(guest);
    }
}
