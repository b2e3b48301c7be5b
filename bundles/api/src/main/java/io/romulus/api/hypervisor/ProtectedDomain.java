package io.romulus.api.hypervisor;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * The primary side of one protected domain. The engine calls these methods from one thread, the epoch loop.
 * Between {@link #pause()} and {@link #resume()} only local copies happen (never the network).
 */
@ConsumerType
public interface ProtectedDomain extends AutoCloseable {

    DomainInfo info();

    /** Stops the guest's vCPUs (and its synthetic workload); returns when the guest no longer changes memory. */
    void pause() throws HypervisorException;

    /** Lets the guest run again. */
    void resume() throws HypervisorException;

    /**
     * Starts tracking written pages. Everything written after this call shows up in {@link #harvestDirty()}. On an
     * {@linkplain Hypervisor#adopt(DomainId) adopted} domain tracking already runs: it keeps what is logged.
     */
    void startDirtyLog() throws HypervisorException;

    /**
     * Returns the page frame numbers written since the last harvest (or since {@link #startDirtyLog()}), in
     * ascending order, and re-arms tracking. Called while paused.
     */
    long[] harvestDirty() throws HypervisorException;

    /** Stops tracking written pages. */
    void stopDirtyLog() throws HypervisorException;

    /**
     * Copies {@code count} pages, {@code pfns[from]} to {@code pfns[from + count - 1]}, into {@code staging} at its
     * position, which advances by {@code count * pageSize}. Called while paused for a checkpoint, or while running
     * for the initial copy.
     */
    void copyPages(long[] pfns, int from, int count, ByteBuffer staging) throws HypervisorException;

    /** Opaque vCPU and device state; called while paused. */
    byte[] captureDeviceState() throws HypervisorException;

    /**
     * {@link #captureDeviceState()}, then {@link #resume()}, as the last step of a checkpoint's pause; a binding that
     * can ask for both at once does (QEMU: both QMP commands in one write, a round trip fewer). Should it fail, the
     * caller resumes the domain itself.
     *
     * @since 1.7
     */
    default byte[] captureDeviceStateAndResume() throws HypervisorException {
        byte[] state = captureDeviceState();
        resume();
        return state;
    }

    /**
     * How long the calls since the last time this was asked spent waiting for another of the binding's threads to hand
     * them their answer (QEMU: from its QMP reader thread reading the reply to the caller running again), in
     * nanoseconds, so that the engine can show it apart from the round trips in the pause's breakdown. The default,
     * for a binding whose calls hand nothing between threads, is 0.
     *
     * @since 1.7
     */
    default long takeHandOffNanos() {
        return 0;
    }

    /**
     * How many write-protect faults the domain took between the last two harvests to have its writes tracked (with
     * userfaultfd's asynchronous write-protect, one per page written: each costs the guest a trip through the host
     * kernel), 0 for a tracking that takes none, or -1 (the default) where the binding cannot tell.
     *
     * @since 1.8
     */
    default long writeFaultsOfLastHarvest() {
        return -1;
    }

    /** What output commit attaches to. */
    List<GuestInterface> networkInterfaces();

    /** What disk replication attaches to. */
    List<GuestDisk> disks();

    /**
     * How the domain came to run here when it was activated from a replica (failover) or resumed from one, for the
     * FAILOVER alarm and the status: where the time went, e.g. {@code "standby QEMU; MAC announced in 6 ms, device
     * state loaded in 24 ms, running after 31 ms"}. Empty for a domain that was not activated, and by default.
     */
    default String activationDetail() {
        return "";
    }

    /**
     * For a domain activated from a replica: completes with the {@link System#nanoTime()} at which the guest's first
     * frame after it ran left the guest (its binding's own address announcements do not count), for the FAILOVER
     * alarm's last step; completes empty when the guest sent nothing in the binding's watch time (a guest nobody
     * talks to) or the binding cannot tell. The default completes empty at once.
     *
     * @since 1.8
     */
    default CompletionStage<OptionalLong> firstFrameAfterActivation() {
        return CompletableFuture.completedFuture(OptionalLong.empty());
    }

    /**
     * Announces the guest's network addresses again from this host (QEMU's {@code announce-self}: RARP per NIC), for
     * when another copy of it may have sent frames meanwhile: the old primary, fenced after a failover, whose guest ran
     * a moment before it learned it lost. The default does nothing.
     */
    default void announce() throws HypervisorException {
    }

    /**
     * Planned switchover, just before the final checkpoint's pause: from now on the binding keeps the frames the host
     * sends towards the guest (which the paused guest will never read), each with the NIC it came on, until
     * {@link #takeInbound()}. Bounded: what does not fit is dropped and counted in the log. Must not throw: a binding
     * that cannot keep them logs why and keeps none. The default keeps none.
     *
     * @since 1.11
     */
    default void keepInbound() {
    }

    /**
     * Ends what {@link #keepInbound()} started and returns the frames kept, in the order they came (per NIC): the
     * old primary of a switchover takes them once its copy stopped for good ({@link #stopAsReplica} keeps them; its
     * interfaces, and so what reaches them, went with it) and carries them to the new primary in the hand-over; an
     * aborted switchover drops them (the guest resumes here, and the senders retransmit as after any loss). Empty when
     * nothing was kept, and by default.
     *
     * @since 1.11
     */
    default List<InboundFrame> takeInbound() {
        return List.of();
    }

    /**
     * Planned switchover, on the new primary: gives the guest {@code frames}, which reached the old primary's copy
     * while it was paused for good, in order, each on its NIC, as if they had come from the network (they are input:
     * what the guest answers is held by output commit as usual). Called right after the domain was activated, paused
     * or running, on a thread of its own while the engine goes on with the activation (the domain's run does not wait
     * for it). Returns how many were delivered; must not throw. The default drops them and returns 0.
     *
     * @since 1.11
     */
    default int deliverInbound(List<InboundFrame> frames) {
        return 0;
    }

    /**
     * What the backup's binding needs to start this domain on failover, as the options of the stream's HELLO (they
     * become the {@link ReplicaSpec#options()} of the replica): for a binding that resolves what the protection was
     * asked for (a VM definition file, a name looked up elsewhere) into a machine, that machine. Empty: the options
     * the protection was requested with travel as they are.
     *
     * @since 1.5
     */
    default Optional<Map<String, String>> replicaOptions() {
        return Optional.empty();
    }

    /**
     * Stops the domain for good: this node lost it to its backup, which runs it now (fencing, invariant I5). Called
     * instead of {@link #close()}. The default pauses the guest and releases the hold, so that it can change nothing
     * and send nothing; a binding that can end the domain does.
     */
    default void destroy() throws HypervisorException {
        try {
            pause();
        } finally {
            close();
        }
    }

    /**
     * Planned switchover: stops the domain for good, as {@link #destroy()} would, but keeps its memory image, vCPU and
     * device state as a replica committed at {@code epoch}, the checkpoint the domain is paused at and its backup
     * activates from. The replica then takes further checkpoints from the new primary, which resumes it without a
     * full copy. Called while the domain is paused; once it returns the domain never runs here again (I5). The
     * default cannot: the engine then {@linkplain #destroy() destroys} the domain and the new primary copies it whole.
     *
     * @param spec what the replica is of (as the backup's HELLO would describe it)
     * @throws HypervisorException when the binding cannot keep the image; the domain is then still paused and intact
     * @since 1.8
     */
    default Replica stopAsReplica(ReplicaSpec spec, long epoch) throws HypervisorException {
        throw new HypervisorException("the " + spec.id().binding() + " binding cannot keep a stopped domain as a "
                + "replica");
    }

    /**
     * The engine lets go of the domain without ending its protection (the engine bundle is being updated): the
     * domain keeps running and its dirty log keeps logging, so that {@link Hypervisor#adopt(DomainId)} hands it, with
     * every page written since this handle's last harvest, to the next engine. The default {@linkplain #close()
     * closes} the handle: a binding that cannot adopt makes the next engine copy the domain whole.
     *
     * @since 1.3
     */
    default void detach() {
        close();
    }

    /**
     * Releases the binding's hold on the domain (dirty log, mappings). Whether the domain itself keeps running is
     * the binding's choice and documented by it; the synthetic domain stops.
     */
    @Override
    void close();
}
