package io.romulus.qemu.internal;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.vm.VmDefinition;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Standby} kept ready for one replica handle: started in the background on the binding's standby thread,
 * started again when it died or has other disks than failover would attach, and, once the handle ends (activated,
 * closed, detached or handed over), handed to the activation or killed; an ended one starts no more standbys, and one
 * that comes up after the end is killed.
 *
 * <p>It owns the standby's process and its starting only: what a switchover's "prepare" loads into it is
 * {@link SwitchoverPreparation}'s, and the RAM file it maps is the replica's. Its monitor is never held while waiting
 * for the replica's lock.
 */
final class ReplicaStandby {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicaStandby.class);
    /** How long ending waits for a standby being started, which it then takes. */
    private static final long START_WAIT_SECONDS = 30;

    private final QemuReplicas owner;
    private final DomainId id;
    private final VmDefinition vm;
    private final Path dir;
    private final Object lock = new Object();
    @GuardedBy("lock")
    private Standby standby;
    @GuardedBy("lock")
    private boolean starting;
    /** Activated, closed, detached or handed over: no more standbys for this handle. */
    @GuardedBy("lock")
    private boolean ended;

    /** No standby yet for the replica of {@code id}, whose RAM file is in {@code dir}. */
    ReplicaStandby(QemuReplicas owner, DomainId id, VmDefinition vm, Path dir) {
        this.owner = owner;
        this.id = id;
        this.vm = vm;
        this.dir = dir;
    }

    /**
     * Keeps a standby ready with {@code disks}: starts one in the background unless one that fits is up or starting,
     * and starts it again if it died. Returns at once; does nothing where the binding keeps no standbys.
     */
    void keep(List<GuestDisk> disks) {
        if (!owner.standbyWanted()) {
            return;
        }
        Standby stale;
        synchronized (lock) {
            if (ended || starting) {
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
            starting = true;
        }
        boolean accepted = owner.startStandby(() -> {
            if (stale != null) {
                stale.close();
            }
            start(disks);
        });
        if (!accepted) {
            // the binding is going away: nothing is starting after all
            settle(null);
            if (stale != null) {
                stale.close();
            }
        }
    }

    /** On the binding's standby thread: starts the standby, and keeps it unless the handle ended meanwhile. */
    private void start(List<GuestDisk> disks) {
        Standby started = null;
        try {
            started = owner.launchStandby(id, vm, dir, disks);
        } catch (HypervisorException | RuntimeException e) {
            // any failure (a RuntimeException too: disks the VM's definition cannot take) ends the start
            LOG.warn("Cannot start a standby QEMU for the replica of {} (failover will start QEMU): {}", id,
                    e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            settle(started);
        }
    }

    /** The start is over: keeps {@code started} (null: none) unless the handle ended meanwhile, and kills it if so. */
    private void settle(Standby started) {
        boolean keep;
        synchronized (lock) {
            starting = false;
            keep = !ended;
            if (keep) {
                standby = started;
            }
            lock.notifyAll();
        }
        if (!keep && started != null) {
            started.close();
        }
    }

    /** The standby that is started (it may have died since), or null: none, one being started, or ended. */
    Standby current() {
        synchronized (lock) {
            return ended || starting ? null : standby;
        }
    }

    /**
     * Takes the standby out, for the caller to kill (it was loaded with a device state); the next {@link #keep} starts
     * a clean one.
     */
    Standby remove() {
        synchronized (lock) {
            Standby s = standby;
            standby = null;
            return s;
        }
    }

    /**
     * Ends standbys for this handle, waiting for one being started: returns the standby if it is alive and (unless
     * {@code disks} is null) fits {@code disks}, and kills it otherwise.
     */
    Standby end(List<GuestDisk> disks) {
        Standby s;
        synchronized (lock) {
            // a standby being started is waited for and then taken (ending first would make its start drop it)
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_WAIT_SECONDS);
            while (starting && System.nanoTime() < deadline) {
                try {
                    lock.wait(TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()) + 1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            ended = true;
            s = standby;
            standby = null;
        }
        if (s != null && !(s.alive() && (disks == null || s.fits(disks)))) {
            s.close();
            return null;
        }
        return s;
    }

    /** Ends standbys for this handle, handing a live one to {@code next}, the handle that takes the replica over. */
    void handTo(ReplicaStandby next) {
        Standby kept = end(null);
        if (kept != null) {
            synchronized (next.lock) {
                next.standby = kept;
            }
        }
    }

    /** Ends standbys for this handle and kills the standby, if there is one. */
    void close() {
        Standby s = end(null);
        if (s != null) {
            s.close();
        }
    }
}
