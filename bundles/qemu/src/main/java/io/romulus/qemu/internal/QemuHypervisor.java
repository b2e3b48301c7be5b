package io.romulus.qemu.internal;

import java.nio.file.Files;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import io.romulus.api.disk.DiskExports;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.qemu.internal.dirty.DirtyTrackerChoice;
import io.romulus.support.process.Executables;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code qemu} binding: guests that Romulus starts itself in QEMU, with their RAM in a shared file on tmpfs.
 * {@link #open} boots the demo guest (or takes hold of one already running under that name); a replica is a RAM file
 * plus a device state that {@link QemuReplica#activate()} resumes in a new QEMU, and that {@link QemuReplica#fork}
 * copies for a clone, a new guest of this node resumed the same way. Usable without OSGi:
 * {@code new QemuHypervisor(settings)}.
 *
 * <p>Guests outlive the hold on them: unprotecting a guest, or stopping this component, leaves it running.
 * {@link #destroy} stops one.
 *
 * <p>Hot upgrade (ARCHITECTURE.md section 8). An engine being updated {@linkplain QemuDomain#detach() detaches} its
 * domains and {@linkplain QemuReplica#detach() replicas}; this binding keeps them (RAM mapping, QMP connection, dirty
 * tracker still logging; replica RAM file, committed epoch and device state) for {@link #adopt} and
 * {@link #adoptReplica}. When this component itself stops (its bundle is updated), it lets go of every guest and
 * replica without ending anything: each guest's directory gets a {@link GuestStateFile} (what {@link #open} knew, and
 * whether a protection held it with which dirty log), each replica's directory a {@link ReplicaStateFile} and the
 * committed device state, and the userfaultfd dirty logs keep running inside QEMU (its own descriptor keeps the
 * registration and the write-protect state of every page). A new instance on the same run directory finds them when
 * it starts: a guest whose {@code qemu.pid} names its live QEMU is connected to again over QMP and adopted with its
 * dirty log taken over as it is (not write-protected again), so the first harvest reports every page written since the
 * last harvest before the update; the directories of guests that are gone are removed. The compare-scan tracker keeps
 * its copy in this component's memory: across this component's own update its guests cannot be adopted (adopt is
 * empty and says why in the log), only opened again and copied whole.
 *
 * <p>The handles of an instance that stopped are unusable: their commands fail and closing them does nothing.
 *
 * <p>This class is the component's face; the work is done by {@link QemuGuests} (the guests and the handles on them),
 * {@link QemuReplicas} (the replicas), {@link GuestLauncher} (starting a QEMU, booted or resumed) and
 * {@link RunDirectory} (the run directory and what an earlier instance left in it).
 */
@Component(service = Hypervisor.class, property = Hypervisor.BINDING + "=qemu", configurationPid = "io.romulus.qemu")
@Designate(ocd = QemuConfig.class)
public final class QemuHypervisor implements Hypervisor {

    public static final String BINDING = "qemu";
    private static final Logger LOG = LoggerFactory.getLogger(QemuHypervisor.class);

    private volatile QemuSettings settings;
    /** Why the dirty tracker of {@link #settings} is the one it is (configured, or what auto found); for the status. */
    private volatile String trackerReason = "configured";
    private volatile DiskExports exports;
    private final QemuGuests guests;
    private final QemuReplicas replicas;

    @Activate
    public QemuHypervisor(QemuConfig config) {
        this(trackerOf(config), config);
    }

    private QemuHypervisor(DirtyTrackerChoice tracker, QemuConfig config) {
        this(QemuSettings.of(config, tracker.tracker()));
        this.trackerReason = tracker.reason();
    }

    /** {@code dirty.tracker} of {@code config}, {@code auto} resolved by asking this kernel (logged). */
    private static DirtyTrackerChoice trackerOf(QemuConfig config) {
        DirtyTrackerChoice choice = DirtyTrackerChoice.choose(config.dirty_tracker().trim().toLowerCase(Locale.ROOT),
                DirtyTrackerChoice::kernel);
        LOG.info("Dirty pages of QEMU guests are tracked with {}: {}", choice.tracker(), choice.reason());
        return choice;
    }

    /** Finds the guests and replicas an earlier instance on the same run directory left behind (see above). */
    public QemuHypervisor(QemuSettings settings) {
        this.settings = settings;
        GuestLauncher launcher = new GuestLauncher(() -> this.settings, () -> exports, this::availability);
        this.guests = new QemuGuests(launcher);
        this.replicas = new QemuReplicas(launcher, guests);
        guests.keeper(replicas::kept);
        RunDirectory.rediscover(settings.runDir(), guests::inherit, replicas::inherit);
        SwitchoverStop.killLeftBehind(settings.runDir()); // logs each one it kills
    }

    /** The node's NBD exports, where guests with a disk get it (bundle nbd); optional. */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public void setDiskExports(DiskExports e) {
        exports = e;
    }

    public void unsetDiskExports(DiskExports e) {
        if (exports == e) {
            exports = null;
        }
    }

    @Modified
    void modified(QemuConfig config) {
        DirtyTrackerChoice tracker = trackerOf(config);
        QemuSettings s = QemuSettings.of(config, tracker.tracker());
        settings = s;
        trackerReason = tracker.reason();
        LOG.info("QEMU binding reconfigured; new guests use {}", s);
    }

    /**
     * Lets go of every guest and replica without ending anything, for the next version of the binding (see above).
     * The engine must have stopped using this instance's handles.
     */
    @Deactivate
    public void deactivate() {
        Map<String, String> held = guests.letGo();
        // after the guests, not under their monitor: a replica being activated holds its lock and then takes it
        int kept = replicas.letGo();
        LOG.info("QEMU binding stopping; its guests run on, protected: {}; replicas kept: {}", held, kept);
    }

    @Override
    public String binding() {
        return BINDING;
    }

    @Override
    public Availability availability() {
        QemuSettings s = settings;
        if (Executables.find(s.qemuBinary()).isEmpty()) {
            return Availability.no(s.qemuBinary() + " is not installed (Debian package qemu-system-x86)");
        }
        if (s.dirtyTracker().equals("uffd") && !Files.isReadable(s.preloadLibrary())) {
            return Availability.no(s.preloadLibrary() + " is missing (the native/ module builds it)");
        }
        return new Availability(true, "available; dirty pages tracked with " + s.dirtyTracker() + " ("
                + trackerReason + ")");
    }

    @Override
    public List<DomainInfo> domains() {
        return guests.domains();
    }

    /**
     * Takes hold of guest {@code id}: the one already running under that name, or a new VM started from
     * {@code options} ({@link GuestDefinitions}: a libvirt domain XML, a VM's own options, or the demo guest's). The
     * guest's RAM mapping and dirty log belong to the returned handle until it is closed.
     */
    @Override
    public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        return guests.open(id, options);
    }

    /**
     * Hands over guest {@code id} that an engine {@linkplain QemuDomain#detach() detached}, or that an earlier version
     * of this binding held when it stopped, with its dirty log as it runs: the first harvest of the returned handle
     * reports every page written since the previous handle's last harvest. Empty when the guest is not held here, is
     * gone, or its dirty log did not survive (none ran, or the compare-scan tracker's copy was lost with the earlier
     * version of the binding); {@link #open} then takes hold of it anew.
     */
    @Override
    public Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
        return guests.adopt(id);
    }

    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
        return replicas.create(spec);
    }

    /**
     * Hands over the replica of {@code spec.id()} that an engine {@linkplain QemuReplica#detach() detached}, or that an
     * earlier version of this binding handed over when it stopped: at its committed epoch, ready for further epochs
     * and for failover. Empty when none is kept here; a kept replica whose memory or page size differs from
     * {@code spec} is dropped, and this is empty.
     */
    @Override
    public Optional<Replica> adoptReplica(ReplicaSpec spec) throws HypervisorException {
        return replicas.adopt(spec);
    }

    /** The run state QEMU reports for guest {@code name} ({@code query-status}: running, paused, ...). */
    public String runState(String name) throws HypervisorException {
        return guests.runState(name);
    }

    /** Stops a guest this node runs: kills its QEMU and removes its files. */
    public void destroy(String name) throws HypervisorException {
        guests.destroy(name);
    }

    /** Stops every guest this node runs (tests, and the demo's stop). */
    public void destroyAll() {
        guests.destroyAll();
    }
}
