package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.qemu.internal.dirty.DirtyTracker;
import io.romulus.qemu.internal.vm.VmDefinition;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guests this node runs and the handles on them: {@link #open} takes hold of a guest (booting it if it does not
 * run), {@link #adopt} hands a detached or inherited one over with its dirty log, {@link #activate} and
 * {@link #startClone} add guests resumed from a replica, {@link #destroy} stops one, {@link #stopAsReplica} stops one
 * for a switchover (how is {@link SwitchoverStop}'s). {@link #letGo} hands every guest to the next version of the
 * binding, {@link #inherit} takes one back from the state file the previous version wrote (the files and the QEMU's
 * reconnection are {@link GuestHandOver}'s).
 *
 * <p>Its monitor serialises taking hold of, starting and stopping guests. The guests and open handles are in concurrent
 * maps, so that listing them and asking a guest's state does not wait for a guest being started; a handle being
 * released ({@link #released}) leaves them without it. A replica being activated holds its own lock and then takes this
 * monitor, never the other way round.
 */
final class QemuGuests {

    private static final Logger LOG = LoggerFactory.getLogger(QemuGuests.class);

    private final GuestLauncher launcher;
    private final SwitchoverStop switchoverStop;
    private final Map<String, QemuGuest> guests = new ConcurrentHashMap<>();
    private final Map<String, QemuDomain> open = new ConcurrentHashMap<>();
    /** Guests whose handle an engine detached: what the next handle takes over. */
    @GuardedBy("this")
    private final Map<String, Held> detached = new HashMap<>();
    /** Guests an earlier version of the binding held when it stopped, by name, with their state files. */
    @GuardedBy("this")
    private final Map<String, GuestStateFile> inherited = new HashMap<>();
    /** Names of clones being started from a replica (between {@link #cloneDir} and {@link #startClone}). */
    @GuardedBy("this")
    private final Set<String> cloning = new HashSet<>();

    /** A detached guest: its RAM mapping and its dirty tracker (or {@code null} if no log ran). */
    private record Held(QemuGuest guest, GuestRam ram, DirtyTracker tracker) {
    }

    QemuGuests(GuestLauncher launcher) {
        this.launcher = launcher;
        this.switchoverStop = new SwitchoverStop(launcher);
    }

    /**
     * Takes hold again of the guest an earlier version of the binding left running in {@code dir} (its
     * {@link GuestStateFile}); removes the directory of one that is gone.
     */
    synchronized void inherit(Path dir) {
        GuestHandOver.TakenBack back;
        try {
            back = GuestHandOver.takeBack(dir, launcher);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (back == null) {
            return;
        }
        QemuGuest g = back.guest();
        GuestStateFile st = back.state();
        QemuProcess p = g.process();
        if (guests.putIfAbsent(st.name(), g) != null) {
            LOG.warn("Two QEMUs run qemu:{}; leaving pid {} in {} alone", st.name(), p.pid(), dir);
            p.disconnect();
            return;
        }
        if (st.held()) {
            inherited.put(st.name(), st);
        }
        LOG.info("Found {} running (pid {}){}", g.id(), p.pid(), st.held()
                ? ", protected until the binding was updated, dirty log " + st.dirtyLog() : "");
    }

    /**
     * Lets go of every guest without ending any, for the next version of the binding: each running guest's directory
     * gets a {@link GuestStateFile}, with the dirty log of the protection that held it, if one did.
     *
     * @return the dirty log of each guest a protection held, by name
     */
    synchronized Map<String, String> letGo() {
        switchoverStop.killAll();
        Map<String, String> held = new TreeMap<>();
        open.forEach((name, d) -> held.put(name, d.handOver()));
        detached.forEach((name, h) -> held.put(name, QemuDomain.handOver(h.tracker())));
        inherited.forEach((name, st) -> held.put(name, st.dirtyLog()));
        open.clear();
        detached.clear();
        inherited.clear();
        guests.values().forEach(g -> GuestHandOver.leave(g, held));
        guests.clear();
        return held;
    }

    List<DomainInfo> domains() {
        List<DomainInfo> out = new ArrayList<>();
        for (QemuGuest g : guests.values()) {
            QemuDomain d = open.get(g.id().name());
            out.add(d != null ? d.info() : new DomainInfo(g.id(), g.vm().memoryBytes(), QemuDomain.PAGE_SIZE,
                    g.process().isAlive(), "QEMU guest (pid " + g.process().pid() + ")"));
        }
        out.sort(Comparator.comparing(d -> d.id().name()));
        return out;
    }

    /** See {@link QemuHypervisor#open}. */
    synchronized ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        refuseOpen(id);
        dropHold(id.name()); // a new protection starts clean: it copies the guest whole
        QemuGuest g = guests.get(id.name());
        if (g != null && !g.process().isAlive()) {
            LOG.warn("The QEMU of {} is gone; booting it again", id);
            forget(g);
            g = null;
        }
        if (g == null) {
            if (cloning.contains(id.name())) {
                throw new HypervisorException(id + " is being started here as a clone of a replica");
            }
            g = launcher.boot(id, launcher.resolve(id, options));
            register(g);
        } else if (!options.isEmpty()) {
            VmDefinition vm = launcher.definitionFor(launcher.resolve(id, options), g);
            if (!vm.equals(g.vm())) {
                throw new HypervisorException(id + " already runs with " + g.vm().toMap() + "; leave out the options "
                        + "to protect it as it is");
            }
        }
        QemuDomain d = new QemuDomain(this, id, g);
        open.put(id.name(), d);
        return d;
    }

    private void refuseOpen(DomainId id) throws HypervisorException {
        if (!QemuHypervisor.BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a QEMU guest (qemu:NAME)");
        }
        if (open.containsKey(id.name())) {
            throw new HypervisorException(id + " is already open");
        }
    }

    /** See {@link QemuHypervisor#adopt}. */
    synchronized Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
        refuseOpen(id);
        Held h = detached.remove(id.name());
        if (h != null) {
            if (h.tracker() == null || !h.guest().process().isAlive()) {
                LOG.info("{} was detached {}; it is not adopted", id, h.tracker() == null ? "without a dirty log"
                        : "but its QEMU is gone");
                closeTracker(h);
                return Optional.empty();
            }
            return Optional.of(hold(new QemuDomain(this, id, h.guest(), h.ram(), h.tracker()), "detached"));
        }
        GuestStateFile st = inherited.remove(id.name());
        QemuGuest g = guests.get(id.name());
        if (st == null || g == null || !g.process().isAlive()) {
            return Optional.empty();
        }
        switch (st.dirtyLog()) {
            case "uffd" -> {
                GuestRam ram = QemuDomain.mapRam(id, g);
                return Optional.of(hold(new QemuDomain(this, id, g, ram, QemuDomain.adoptUffdLog(g, ram)),
                        "left running by the earlier version of the binding"));
            }
            case "compare" -> {
                LOG.warn("{} cannot be adopted: its dirty log (dirty.tracker=compare) compared against a copy of its RAM "
                        + "kept in the memory of the earlier version of the binding, which its update dropped; a new "
                        + "protection copies it whole", id);
                return Optional.empty();
            }
            default -> {
                LOG.info("{} ran without a dirty log when the binding was updated; it is not adopted", id);
                return Optional.empty();
            }
        }
    }

    private QemuDomain hold(QemuDomain d, String from) {
        open.put(d.guest().id().name(), d);
        LOG.info("Adopted {} ({}), dirty log going on", d.guest().id(), from);
        return d;
    }

    /** A guest's handle was detached: keeps its RAM mapping and dirty tracker for {@link #adopt}. */
    synchronized void detached(QemuDomain d, DirtyTracker tracker) {
        String name = d.guest().id().name();
        open.remove(name, d);
        closeTracker(detached.put(name, new Held(d.guest(), d.ram(), tracker)));
        LOG.info("{} detached; it runs on{}", d.guest().id(), tracker == null ? "" : " with its dirty log");
    }

    /** Ends what a detached or inherited hold on guest {@code name} keeps (its dirty log). */
    @GuardedBy("this")
    private void dropHold(String name) {
        closeTracker(detached.remove(name));
        inherited.remove(name);
    }

    private static void closeTracker(Held h) {
        if (h != null && h.tracker() != null) {
            h.tracker().close();
        }
    }

    /** A guest's handle was closed. */
    void released(QemuDomain d) {
        open.remove(d.guest().id().name(), d);
    }

    /** A new guest of this node; its state file says what it is, so that a later version of the binding finds it. */
    private void register(QemuGuest g) {
        guests.put(g.id().name(), g);
        GuestHandOver.describe(g);
    }

    @GuardedBy("this")
    private void forget(QemuGuest g) {
        guests.remove(g.id().name(), g);
        dropHold(g.id().name());
        QemuDomain d = open.remove(g.id().name());
        if (d != null) {
            d.close();
        }
    }

    /**
     * Failover: loads the device state into the replica's {@link Standby} when it has one that fits, else starts QEMU
     * on the replica's RAM file waiting for its device state and loads it; lets the guest run and announces its MAC
     * address, so the network learns where it is now. A standby that fails is killed and a fresh QEMU started.
     *
     * @param standby the replica's standby, or null; this takes it over (runs it or kills it)
     */
    synchronized QemuDomain activate(DomainId id, VmDefinition vm, Path dir, Path deviceState, long epoch,
            List<GuestDisk> disks, Standby standby, boolean run, boolean preloaded, DirtyTracker preparedLog)
            throws HypervisorException {
        DirtyTracker log = preparedLog;
        try {
            refuseRunning(id);
            GuestLauncher.Resumed r = null;
            if (standby != null) {
                try {
                    r = launcher.resumeStandby(id, vm, standby, deviceState, disks, run, preloaded);
                } catch (HypervisorException e) {
                    standby.close();
                    LOG.warn("{}; starting a fresh QEMU instead", e.getMessage());
                }
            }
            if (r == null) {
                if (log != null) {
                    log.close(); // of the standby's QEMU, which is gone
                    log = null;
                }
                r = launcher.resume(id, vm, dir, deviceState, disks, "activating", run);
            }
            QemuDomain d = activated(r, run, log);
            log = null;
            LOG.info("Activated {} from checkpoint {}: {} (pid {})", id, epoch, r.detail(), r.guest().process().pid());
            return d;
        } finally {
            if (log != null) {
                log.close();
            }
        }
    }

    /** The handle of a guest resumed from a replica; {@code log}: its dirty log, started at "prepare", or null. */
    private QemuDomain activated(GuestLauncher.Resumed r, boolean run, DirtyTracker log) throws HypervisorException {
        QemuDomain d = resumed(r.guest(), log);
        if (run) {
            d.activated(r.detail(), r.firstFrame().first());
        } else {
            d.activatedPaused(log == null ? r.detail() : r.detail() + "; its dirty log started at \"prepare\"");
        }
        return d;
    }

    /** Makes the replica of a guest stopped for a switchover: {@link QemuReplicas#kept}, set by the binding. */
    void keeper(SwitchoverStop.Keeper k) {
        switchoverStop.keeper(k);
    }

    /**
     * Switchover: stops guest {@code name} for good, as {@link #destroy} does, but moves its RAM file into a new
     * replica directory, where it becomes, with {@code deviceState}, a replica of {@code spec} committed at
     * {@code epoch}. Returns once the guest can never run or send again (I5, {@link SwitchoverStop#stop}); what its
     * QEMU's end costs the kernel comes later, off the switchover's path. The replica maps the RAM file itself, which
     * outlives QEMU's mapping.
     */
    synchronized Replica stopAsReplica(String name, ReplicaSpec spec, byte[] deviceState, long epoch)
            throws HypervisorException {
        QemuGuest g = guests.get(name);
        if (g == null) {
            throw new HypervisorException("no QEMU guest '" + name + "' runs on this node");
        }
        SwitchoverStop.Stopped stopped = switchoverStop.stop(g);
        forget(g);
        g.disks().forEach(launcher::unexport); // the guest, paused, had no request in flight (QEMU drains at "stop")
        return switchoverStop.keep(stopped, spec, deviceState, epoch);
    }

    /**
     * Scale-out: makes the directory of clone {@code id} of a replica (removing one left over by a guest that no
     * longer runs) and reserves the name until {@link #startClone} or {@link #cloneFailed}; the caller copies the
     * replica's RAM file and committed device state into it.
     */
    synchronized Path cloneDir(DomainId id) throws HypervisorException {
        refuseRunning(id);
        if (!cloning.add(id.name())) {
            throw new HypervisorException(id + " is being started as a clone already");
        }
        Path dir = launcher.settings().runDir().resolve(id.name());
        RunDirectory.deleteTree(dir);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            cloning.remove(id.name());
            throw new HypervisorException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        return dir;
    }

    /**
     * Scale-out: starts QEMU on the clone's copy of the replica's RAM file, loads the copied device state, lets the
     * clone run and announces its MAC address; the clone is a guest of this node like a booted one.
     *
     * @param copyMs how long the copy took, for the log
     */
    synchronized QemuDomain startClone(DomainId id, DomainId of, VmDefinition vm, Path dir, Path deviceState,
            long epoch, long copyMs) throws HypervisorException {
        try {
            refuseRunning(id);
            GuestLauncher.Resumed r = launcher.resume(id, vm, dir, deviceState, List.of(), "starting the clone");
            QemuDomain d = resumed(r.guest(), null);
            String bridge = vm.nics().isEmpty() ? "" : QemuProcess.bridgeOf(vm.nics().get(0), launcher.settings());
            LOG.info("Started {}, a clone of {} at checkpoint {}: replica copied in {} ms, device state loaded in {} ms,"
                    + " running after {} ms (pid {}{})", id, of, epoch, copyMs, r.loadedMs(), r.runningMs(),
                    r.guest().process().pid(), vm.nics().isEmpty() ? "" : ", taps " + r.guest().process().taps()
                    + (bridge.isEmpty() ? "" : " in bridge " + bridge));
            return d;
        } catch (HypervisorException | RuntimeException e) {
            RunDirectory.deleteTree(dir);
            throw e;
        } finally {
            cloning.remove(id.name());
        }
    }

    /** Scale-out: the copy into a clone's directory failed; removes the directory and frees the name. */
    synchronized void cloneFailed(DomainId id, Path dir) {
        RunDirectory.deleteTree(dir);
        cloning.remove(id.name());
    }

    private void refuseRunning(DomainId id) throws HypervisorException {
        QemuGuest running = guests.get(id.name());
        if (running != null && running.process().isAlive()) {
            throw new HypervisorException(id + " already runs on this node (pid " + running.process().pid() + ")");
        }
    }

    /** A guest resumed from a replica is one of this node's, held by the returned handle. */
    private QemuDomain resumed(QemuGuest g, DirtyTracker log) throws HypervisorException {
        register(g);
        QemuDomain d = log == null ? new QemuDomain(this, g.id(), g)
                : new QemuDomain(this, g.id(), g, QemuDomain.mapRam(g.id(), g), log);
        open.put(g.id().name(), d);
        return d;
    }

    /** See {@link QemuHypervisor#runState}. */
    String runState(String name) throws HypervisorException {
        QemuGuest g = guests.get(name);
        if (g == null) {
            throw new HypervisorException("no QEMU guest '" + name + "' runs on this node");
        }
        try {
            return g.process().qmp().execute("query-status", null).path("status").asText();
        } catch (IOException e) {
            throw new HypervisorException("cannot ask the QEMU of qemu:" + name + " its state: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("asking the QEMU of qemu:" + name + " its state interrupted");
        }
    }

    /** Stops a guest this node runs: kills its QEMU and removes its files. */
    synchronized void destroy(String name) throws HypervisorException {
        QemuGuest g = guests.get(name);
        if (g == null) {
            throw new HypervisorException("no QEMU guest '" + name + "' runs on this node");
        }
        g.process().close(); // killed first, so that releasing the hold on it cannot let it run again
        forget(g);
        g.disks().forEach(launcher::unexport);
        RunDirectory.deleteTree(g.process().dir());
        LOG.info("Stopped {}", g.id());
    }

    /** Like {@link #destroy} for a guest that may already be gone. */
    synchronized void destroyIfKnown(String name) throws HypervisorException {
        if (guests.containsKey(name)) {
            destroy(name);
        }
    }

    /** Stops every guest this node runs. */
    void destroyAll() {
        switchoverStop.killAll();
        for (String name : new ArrayList<>(guests.keySet())) {
            try {
                destroy(name);
            } catch (HypervisorException e) {
                LOG.debug("{} went away meanwhile", name, e);
            }
        }
    }
}
