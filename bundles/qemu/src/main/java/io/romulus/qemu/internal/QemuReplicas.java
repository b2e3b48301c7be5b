package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.qemu.internal.dirty.DirtyTracker;
import io.romulus.qemu.internal.vm.VmDefinition;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The replicas this node keeps as a backup: {@link #create} makes one for a primary's HELLO, {@link #adopt} hands
 * over one that an engine detached or that the previous version of the binding left ({@link #inherit}), and
 * {@link #letGo} hands every one to the next version. Activating a replica, and starting a clone of one, make a guest
 * of this node: {@link QemuGuests} starts it.
 *
 * <p>The replica sets are concurrent: a replica reports its own detaching and end ({@link #replicaDetached},
 * {@link #replicaGone}) while it holds its lock. This class's monitor serialises {@link #adopt} only.
 */
final class QemuReplicas {

    private static final Logger LOG = LoggerFactory.getLogger(QemuReplicas.class);

    private final GuestLauncher launcher;
    private final QemuGuests guests;
    private final Set<QemuReplica> replicas = ConcurrentHashMap.newKeySet();
    /** Starts replicas' standbys, one at a time, off the committer's thread. */
    private final ExecutorService standbys = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "romulus-qemu-standby");
        t.setDaemon(true);
        return t;
    });
    /** Replicas whose handle an engine detached, by domain name: the handles {@link #adopt} returns. */
    private final Map<String, QemuReplica> detached = new ConcurrentHashMap<>();
    /** Replicas an earlier version of the binding handed over, by domain name. */
    private final Map<String, InheritedReplica> inherited = new ConcurrentHashMap<>();

    private record InheritedReplica(Path dir, ReplicaStateFile state) {
    }

    QemuReplicas(GuestLauncher launcher, QemuGuests guests) {
        this.launcher = launcher;
        this.guests = guests;
    }

    /**
     * Keeps the replica an earlier version of the binding handed over in {@code dir} (its {@link ReplicaStateFile}),
     * the latest of each guest; removes an unusable or older one.
     */
    void inherit(Path dir) {
        ReplicaStateFile st;
        try {
            st = ReplicaStateFile.read(dir);
            long size = Files.size(dir.resolve("ram"));
            if (size != st.spec().memoryBytes()) {
                throw new IOException("its RAM file has " + size + " bytes, not " + st.spec().memoryBytes());
            }
        } catch (IOException e) {
            LOG.warn("Removing the unusable replica in {}: {}", dir, e.getMessage());
            RunDirectory.deleteTree(dir);
            return;
        }
        String name = st.spec().id().name();
        InheritedReplica found = new InheritedReplica(dir, st);
        InheritedReplica previous = inherited.get(name);
        InheritedReplica dropped = found;
        if (previous == null || previous.state().committedEpoch() < st.committedEpoch()) {
            inherited.put(name, found);
            dropped = previous;
        }
        LOG.info("Found the replica of {} in {} at epoch {}", st.spec().id(), dir, st.committedEpoch());
        if (dropped != null) {
            LOG.info("Removing an older replica of {} in {}", st.spec().id(), dropped.dir());
            RunDirectory.deleteTree(dropped.dir());
        }
    }

    /**
     * Hands every replica to the next version of the binding (see {@link QemuReplica#handOver()}); the engine must
     * have stopped using them. Not under a monitor that a replica's activation takes: it takes each replica's lock.
     *
     * @return how many replicas are kept for the next version
     */
    int letGo() {
        standbys.shutdown();
        // replicas first, then the detached ones: one being detached meanwhile moves from the first to the second
        List<QemuReplica> handed = new ArrayList<>(replicas);
        handed.forEach(QemuReplicas::handOver);
        new ArrayList<>(detached.values()).forEach(QemuReplicas::handOver);
        int kept = handed.size() + detached.size() + inherited.size();
        replicas.clear();
        detached.clear();
        inherited.clear();
        return kept;
    }

    private static void handOver(QemuReplica r) {
        try {
            r.handOver();
        } catch (IOException e) {
            LOG.warn("Dropped the replica of {}: {}", r.spec().id(), e.getMessage());
        }
    }

    /** See {@link QemuHypervisor#createReplica}. */
    Replica create(ReplicaSpec spec) throws HypervisorException {
        if (spec.pageSize() != QemuDomain.PAGE_SIZE) {
            throw new HypervisorException("QEMU guests have " + QemuDomain.PAGE_SIZE + "-byte pages, not "
                    + spec.pageSize());
        }
        VmDefinition vm;
        try {
            vm = definitionOf(spec.id(), spec.options());
        } catch (IllegalArgumentException e) {
            throw new HypervisorException("the HELLO of " + spec.id() + " does not define a VM this binding can start: "
                    + e.getMessage(), e);
        }
        if (vm.memoryBytes() != spec.memoryBytes()) {
            throw new HypervisorException("the HELLO of " + spec.id() + " says " + spec.memoryBytes()
                    + " bytes of memory but its definition says " + vm.memoryBytes());
        }
        for (String f : vm.directKernelBoot() ? List.of(vm.kernel(), vm.initrd()) : List.<String>of()) {
            if (!f.isEmpty() && !Files.isReadable(Path.of(f))) {
                LOG.warn("{} boots {} on its primary, which this node does not have: failover resumes it (the kernel "
                        + "runs in its memory already), but a reboot of the guest after a failover needs the file here",
                        spec.id(), f);
            }
        }
        drop(spec.id().name()); // a new replica is copied whole: the kept ones are of no more use
        QemuReplica r = QemuReplica.create(this, spec, vm,
                RunDirectory.newReplicaDir(launcher.settings().runDir(), spec.id().name()));
        replicas.add(r);
        return r;
    }

    /** See {@link QemuHypervisor#adoptReplica}. */
    synchronized Optional<Replica> adopt(ReplicaSpec spec) throws HypervisorException {
        String name = spec.id().name();
        QemuReplica r = detached.remove(name);
        if (r == null) {
            InheritedReplica found = inherited.remove(name);
            if (found == null) {
                return Optional.empty();
            }
            if (!fits(found.state().spec(), spec)) {
                LOG.info("Dropping the kept replica of {}: it is of {}, not {}", spec.id(), found.state().spec(), spec);
                RunDirectory.deleteTree(found.dir());
                return Optional.empty();
            }
            try {
                r = QemuReplica.adopt(this, found.dir(), found.state());
            } catch (IOException | RuntimeException e) {
                LOG.warn("Dropping the kept replica of {} in {}: {}", spec.id(), found.dir(), e.getMessage());
                RunDirectory.deleteTree(found.dir());
                return Optional.empty();
            }
        } else if (!fits(r.spec(), spec)) {
            LOG.info("Dropping the detached replica of {}: it is of {}, not {}", spec.id(), r.spec(), spec);
            r.close();
            return Optional.empty();
        }
        replicas.add(r);
        LOG.info("Adopted the replica of {} at epoch {}", spec.id(), r.committedEpoch());
        return Optional.of(r);
    }

    private static boolean fits(ReplicaSpec kept, ReplicaSpec wanted) {
        return kept.id().equals(wanted.id()) && kept.memoryBytes() == wanted.memoryBytes()
                && kept.pageSize() == wanted.pageSize();
    }

    private void drop(String name) {
        QemuReplica r = detached.remove(name);
        if (r != null) {
            r.close();
        }
        InheritedReplica found = inherited.remove(name);
        if (found != null) {
            RunDirectory.deleteTree(found.dir());
        }
    }

    /** A replica's handle was detached: {@code next} takes it over, kept for {@link #adopt}. */
    void replicaDetached(QemuReplica old, QemuReplica next) {
        QemuReplica previous = detached.put(next.spec().id().name(), next); // before leaving replicas
        replicas.remove(old);
        if (previous != null) {
            previous.close();
        }
        LOG.info("The replica of {} detached at epoch {}", next.spec().id(), next.committedEpoch());
    }

    /** A replica was closed or activated. */
    void replicaGone(QemuReplica r) {
        replicas.remove(r);
    }

    /** See {@link GuestLauncher#definitionOf}. */
    VmDefinition definitionOf(DomainId id, Map<String, String> options) {
        return launcher.definitionOf(id, options);
    }

    /** Failover of a replica (or a switchover, without {@code run}): see {@link QemuGuests#activate}. */
    QemuDomain activate(DomainId id, VmDefinition vm, Path dir, Path deviceState, long epoch, List<GuestDisk> disks,
            Standby standby, boolean run, boolean preloaded, DirtyTracker preparedLog) throws HypervisorException {
        return guests.activate(id, vm, dir, deviceState, epoch, disks, standby, run, preloaded, preparedLog);
    }

    /** Whether the guests' dirty log is the userfaultfd one, which a prepared standby can start before it runs. */
    boolean uffdLog() {
        return launcher.settings().dirtyTracker().equals("uffd");
    }

    /** See {@link GuestLauncher#preload}. */
    long preload(DomainId id, VmDefinition vm, Standby standby, Path deviceState, Runnable moved)
            throws HypervisorException {
        return launcher.preload(id, vm, standby, deviceState, moved);
    }

    /**
     * Switchover: the RAM file in {@code dir} of a guest this node stopped at {@code epoch}, with its device state,
     * becomes the replica of {@code spec} (any other kept replica of the guest is dropped).
     */
    Replica kept(ReplicaSpec spec, Path dir, byte[] deviceState, long epoch) throws HypervisorException {
        drop(spec.id().name());
        VmDefinition vm;
        try {
            vm = definitionOf(spec.id(), spec.options());
        } catch (IllegalArgumentException e) {
            RunDirectory.deleteTree(dir);
            throw new HypervisorException("the stopped " + spec.id() + " is not a VM this binding can start again: "
                    + e.getMessage(), e);
        }
        QemuReplica r = QemuReplica.kept(this, spec, vm, dir, deviceState, epoch);
        replicas.add(r);
        return r;
    }

    /** The network namespace the guests' taps live in (empty: this one). */
    String netns() {
        return launcher.settings().netns();
    }

    /** Whether replicas keep a {@link Standby} (the {@code standby} setting). */
    boolean standbyWanted() {
        return launcher.settings().standby();
    }

    /**
     * Runs {@code task} (a replica starting its standby) on this binding's standby thread, one at a time; false if the
     * binding stops and the task will not run.
     */
    boolean startStandby(Runnable task) {
        try {
            standbys.execute(task);
            return true;
        } catch (RejectedExecutionException e) {
            LOG.debug("The binding stops: no standby started", e);
            return false;
        }
    }

    /** See {@link GuestLauncher#startStandby}. */
    Standby launchStandby(DomainId id, VmDefinition vm, Path dir, List<GuestDisk> disks)
            throws HypervisorException, InterruptedException {
        return launcher.startStandby(id, vm, dir, disks);
    }

    /** See {@link QemuGuests#cloneDir}. */
    Path cloneDir(DomainId id) throws HypervisorException {
        return guests.cloneDir(id);
    }

    /** See {@link QemuGuests#startClone}. */
    QemuDomain startClone(DomainId id, DomainId of, VmDefinition vm, Path dir, Path deviceState, long epoch,
            long copyMs) throws HypervisorException {
        return guests.startClone(id, of, vm, dir, deviceState, epoch, copyMs);
    }

    /** See {@link QemuGuests#cloneFailed}. */
    void cloneFailed(DomainId id, Path dir) {
        guests.cloneFailed(id, dir);
    }
}
