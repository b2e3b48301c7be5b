package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.dirty.DirtyTracker;
import io.romulus.qemu.internal.vm.VmDefinition;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a switchover's "prepare" did to one replica's standby: the committed epoch whose device state it loaded into
 * the standby (the guest's MAC address moved here with it), and the userfaultfd dirty log it started on that standby,
 * until the switchover's activation {@linkplain #take takes} them, or a new epoch, "unprepare" or the handle's end
 * {@linkplain #drop drops} them, killing the loaded standby (it cannot take another device state).
 *
 * <p>It does not own the standby ({@link ReplicaStandby}) nor the RAM file and committed device state
 * ({@link QemuReplica}). Every method runs under the replica's write lock, which guards its fields.
 */
final class SwitchoverPreparation {

    private static final Logger LOG = LoggerFactory.getLogger(SwitchoverPreparation.class);

    private final QemuReplicas owner;
    private final DomainId id;
    private final VmDefinition vm;
    private final ReplicaStandby standby;
    /** The epoch whose device state "prepare" loaded into the standby, or -1. */
    private long prepared = -1;
    /**
     * The dirty log of the prepared standby, started at "prepare" (it is stopped: nothing is written until it runs),
     * which the switchover's activation hands to the domain; null without.
     */
    private DirtyTracker log;

    /** What the activation takes: whether the standby holds its epoch's device state, and the log started on it. */
    record Taken(boolean preloaded, DirtyTracker log) {
    }

    SwitchoverPreparation(QemuReplicas owner, DomainId id, VmDefinition vm, ReplicaStandby standby) {
        this.owner = owner;
        this.id = id;
        this.vm = vm;
        this.standby = standby;
    }

    /** Whether the standby holds the device state of {@code epoch} already. */
    boolean isAt(long epoch) {
        return prepared == epoch;
    }

    /**
     * Loads {@code deviceState}, the state of {@code epoch}, into {@code s} (the replica's standby, up and fitting),
     * which stays stopped, moves the guest's MAC address to its taps (then runs {@code addressesMoved}) and starts
     * its dirty log where the guests' is the userfaultfd one, on {@code ram}. If the load fails the standby is killed
     * (the next {@link ReplicaStandby#keep} starts a clean one) and this throws.
     */
    void load(Standby s, Path deviceState, long epoch, GuestRam ram, Runnable addressesMoved)
            throws HypervisorException {
        long ms;
        try {
            ms = owner.preload(id, vm, s, deviceState, addressesMoved);
        } catch (HypervisorException e) {
            drop(); // its QEMU was killed
            throw e;
        }
        prepared = epoch;
        String started = startLog(s, ram);
        LOG.info("Prepared the switchover of {} at checkpoint {}: device state loaded into the standby and MAC "
                + "address moved here in {} ms{}", id, epoch, ms, started);
    }

    /**
     * Starts the prepared standby's userfaultfd dirty log, so that "go" does not wait for it: the standby is stopped
     * and writes nothing until it runs. Returns what to log of it. Where it cannot, the engine starts the log after
     * "go", as without a preparation.
     */
    private String startLog(Standby s, GuestRam ram) {
        if (!owner.uffdLog()) {
            return "";
        }
        long start = System.nanoTime();
        try {
            log = QemuDomain.startUffdLog(s.process().pid(), ram);
            return ", dirty log started in " + TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - start) + " us";
        } catch (IOException | HypervisorException | RuntimeException e) {
            LOG.warn("{}: starting the dirty log of the prepared standby failed ({}); it starts after \"go\"",
                    id, e.getMessage());
            return "";
        }
    }

    /**
     * The activation of the replica at {@code committed} takes the preparation: whether the standby holds that
     * epoch's device state, and its dirty log, which only a paused activation of a preloaded standby keeps (a failover
     * starts the log when the engine protects the domain); the log is closed otherwise. Nothing is prepared after.
     */
    Taken take(long committed, boolean run) {
        boolean preloaded = prepared == committed;
        prepared = -1;
        DirtyTracker taken = log;
        log = null;
        if (taken != null && (run || !preloaded)) {
            taken.close();
            taken = null;
        }
        return new Taken(preloaded, taken);
    }

    /**
     * Closes the prepared dirty log and kills a standby that "prepare" loaded (it cannot take another device state);
     * the replica's next {@link ReplicaStandby#keep} starts a clean one.
     */
    void drop() {
        if (log != null) {
            log.close();
            log = null;
        }
        if (prepared < 0) {
            return;
        }
        prepared = -1;
        Standby s = standby.remove();
        if (s != null) {
            LOG.info("The switchover of {} did not happen: its prepared standby is replaced by a clean one", id);
            s.close();
        }
    }
}
