package io.romulus.api.hypervisor;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * The backup side of one protected domain: an image that always equals one committed epoch (invariant I2) once the
 * first checkpoint has been applied.
 */
@ConsumerType
public interface Replica extends AutoCloseable {

    ReplicaSpec spec();

    /**
     * Writes pages of the initial full copy (epoch 0). The replica is not consistent until the first
     * {@link #applyCommitted(CommittedEpoch)}; it cannot be activated before that.
     */
    void writeInitial(long[] pfns, int from, int count, ByteBuffer pages) throws HypervisorException;

    /**
     * Applies one complete and verified epoch. Either the whole epoch is applied or, if this throws, the replica is
     * marked unusable; an activation never observes half of an epoch.
     */
    void applyCommitted(CommittedEpoch epoch) throws HypervisorException;

    /** The last epoch applied, or {@code -1} while none is. */
    long committedEpoch();

    /** Reads one page of the replica into {@code dst} at its position (for verification and diagnostics). */
    void readPage(long pfn, ByteBuffer dst) throws HypervisorException;

    /**
     * Brings the replica to life from its last committed epoch (failover). Waits for an apply in progress.
     *
     * @return the now running domain, which can be protected in turn
     * @throws HypervisorException if no epoch was ever committed, or the binding cannot start it
     */
    ProtectedDomain activate() throws HypervisorException;

    /**
     * Brings the replica to life with its replicated disks attached (failover of a domain with disks): each disk as
     * its {@link io.romulus.api.disk.DiskReplicator.Backup#activate()} returned it, already at the last committed
     * epoch, in the order of the primary's {@link ProtectedDomain#disks()}. The default takes no disks: it refuses a
     * non-empty list, so that a binding that cannot attach them never starts a domain without its disks, and
     * otherwise calls {@link #activate()}.
     *
     * @throws HypervisorException if the binding cannot attach the disks, or as {@link #activate()}
     * @since 1.2
     */
    default ProtectedDomain activate(List<GuestDisk> disks) throws HypervisorException {
        if (!disks.isEmpty()) {
            throw new HypervisorException("the replica of " + spec().id() + " cannot be activated with its "
                    + "replicated disks (" + String.join(", ", disks.stream().map(GuestDisk::name).toList())
                    + "): this binding does not attach disks on failover");
        }
        return activate();
    }

    /**
     * {@link #activate(List)}, but the domain is left paused (planned switchover): the engine starts its dirty log and
     * attaches its output buffers before it lets the domain run, so that the replica the old primary keeps can be
     * resumed without a full copy. The default cannot: the engine then activates it running, and protects it back
     * with a full copy.
     *
     * @throws HypervisorException if the binding cannot, or as {@link #activate(List)}
     * @since 1.8
     */
    default ProtectedDomain activatePaused(List<GuestDisk> disks) throws HypervisorException {
        throw new HypervisorException("the " + spec().id().binding() + " binding cannot activate a replica paused");
    }

    /**
     * Planned switchover: the primary paused the domain at this replica's committed epoch and asks whether it can
     * take over from exactly there. A binding may prepare the activation now, so that the {@link #activatePaused}
     * that follows the primary's "go" only has to let the domain run: load the committed device state into a standby
     * process that stays stopped, and move the guest's addresses to this host, where what clients send meanwhile
     * waits until the domain runs (the paused primary would only drop it). Nothing may run before activation (I5).
     * Until {@link #activatePaused}, {@link #activate(List)} or {@link #unprepare()}, no epoch is applied (the primary
     * is paused); a binding must still drop the preparation by itself before applying one. The engine calls it on a
     * thread of its own ({@link #prepareActivation(List, Runnable)}, whose default calls this one), tells the primary
     * it is ready once the guest's addresses moved here, and activates only after it returned: the rest of the
     * preparation goes on beside the primary's stop, and one that fails leaves the activation to start from scratch.
     * The default prepares nothing.
     *
     * @param disks the disks the domain will be activated with, as for {@link #activate(List)}
     * @return whether anything was prepared
     * @throws HypervisorException if preparing failed; the binding has then undone what it did, and activation
     *                             starts from scratch
     * @since 1.9
     */
    default boolean prepareActivation(List<GuestDisk> disks) throws HypervisorException {
        return false;
    }

    /**
     * {@link #prepareActivation(List)}, telling the engine when the guest's addresses reach this host: the binding
     * runs {@code addressesMoved} once, as soon as what clients send to the guest arrives here instead of at the
     * paused primary (QEMU: the standby's taps are up, the bridges forward the guest's MAC address to them and the
     * address was announced), and before it goes on with the rest (loading the device state). The engine answers the
     * primary's "prepare" with "ready" only then, so that the primary does not stop its copy, which keeps what reaches
     * it until it stops, while its host still receives the guest's traffic. Whatever happens, the engine takes the
     * end of this call as the signal too (preparing nothing, failing, or returning without having called it): a
     * preparation that never signals and never ends leaves the primary without an answer, and it aborts the
     * switchover after its timeout.
     *
     * <p>The default calls {@link #prepareActivation(List)} and signals when it returns: a binding that cannot tell
     * when its addresses moved (Xen, the simulator, which move none ahead) signals at its end, which for a binding
     * that prepares nothing is at once.
     *
     * @param disks          as for {@link #prepareActivation(List)}
     * @param addressesMoved run once the guest's addresses reach this host; from any thread, at most once
     * @return as {@link #prepareActivation(List)}
     * @throws HypervisorException as {@link #prepareActivation(List)}
     * @since 1.12
     */
    default boolean prepareActivation(List<GuestDisk> disks, Runnable addressesMoved) throws HypervisorException {
        return prepareActivation(disks);
    }

    /**
     * Planned switchover: the network interfaces the domain will have once the activation that
     * {@link #prepareActivation} prepared is done, as its {@link ProtectedDomain#networkInterfaces()} will list them
     * (the standby's taps, say). The engine attaches their output buffers right after the preparation, so that "go"
     * does not wait for them: they hold nothing until the domain runs. It detaches them again when the preparation is
     * taken back or fails, and attaches anew any interface the activated domain lists otherwise. The engine asks
     * before {@link #prepareActivation} too, so that a binding that can name them then has them attached beside the
     * preparation. Empty (the default) when the binding cannot tell before the activation, or prepared nothing.
     *
     * @since 1.10
     */
    default List<GuestInterface> preparedInterfaces() {
        return List.of();
    }

    /**
     * The switchover that {@link #prepareActivation} prepared for did not happen (it aborted, or the stream goes on
     * with a later epoch): the replica returns to a clean replica, its standby to a clean standby; the primary moves
     * the guest's addresses back. The default does nothing.
     *
     * @since 1.9
     */
    default void unprepare() {
    }

    /**
     * Offers the binding to prepare the replica's failover ahead of time, with the disks as {@link #activate(List)}
     * will be given them: a binding may start the VM's process now, stopped and waiting for a committed device state,
     * so that a failover only loads that state and lets it run. The standby must never run before activation, and
     * must not read the replica's memory or disks until then (invariant I2: it sees the committed state only once
     * activation holds the replica). Called after commits, possibly often: it must return at once (start the process
     * in the background) and do nothing when a standby with these disks is up or starting; a standby that died is
     * started again. The default does nothing: activation starts everything.
     *
     * @param disks the disks the domain will be activated with, already served, in the primary's order
     */
    default void standby(List<GuestDisk> disks) {
    }

    /**
     * The engine lets go of the replica without dropping it (the engine bundle is being updated): it stays at its
     * committed epoch, so that {@link Hypervisor#adoptReplica(ReplicaSpec)} hands it to the next engine. The default
     * {@linkplain #close() drops} it: a binding that cannot adopt makes the primary copy the domain whole again.
     *
     * @since 1.3
     */
    default void detach() {
        close();
    }

    /**
     * Starts a new, independent domain {@code clone} from the replica's last committed epoch (scale-out of a service
     * whose requests change no state): the clone's memory, vCPU and device state are those of that epoch, its
     * options are the replica's with {@code overrides} applied (for example the network it joins, so that its guest
     * addresses, the same as the original's, do not collide). The replica itself is unchanged and goes on applying
     * epochs; the copy is taken between two applies, so the clone never sees half of an epoch (I2). The clone runs
     * on this node, unprotected until the engine protects it like any other domain.
     *
     * @return the running clone, which the caller owns (and protects, or destroys)
     * @throws HypervisorException if no epoch was committed yet, {@code clone} runs here already, an override is
     *                             not an option of the binding, or the binding cannot clone; the default cannot
     * @since 1.4
     */
    default ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        throw new HypervisorException("the " + spec().id().binding() + " binding cannot start a clone of "
                + spec().id() + " from its replica");
    }

    /** Drops the replica and frees what it holds. */
    @Override
    void close();
}
