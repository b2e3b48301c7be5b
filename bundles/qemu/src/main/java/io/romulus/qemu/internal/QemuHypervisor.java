package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;

import io.romulus.api.disk.DiskExports;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.qemu.internal.dirty.DirtyTracker;
import io.romulus.qemu.internal.dirty.DirtyTrackerChoice;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;
import io.romulus.support.process.Executables;
import io.romulus.support.qmp.QmpClient;

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
 */
@Component(service = Hypervisor.class, property = Hypervisor.BINDING + "=qemu", configurationPid = "io.romulus.qemu")
@Designate(ocd = QemuConfig.class)
public final class QemuHypervisor implements Hypervisor {

    public static final String BINDING = "qemu";
    private static final Logger LOG = LoggerFactory.getLogger(QemuHypervisor.class);
    private static final AtomicLong REPLICAS = new AtomicLong();
    /** The demo guest's disk image, in its directory. */
    static final String DEMO_DISK = "disk.img";

    private volatile QemuSettings settings;
    /** Why the dirty tracker of {@link #settings} is the one it is (configured, or what auto found); for the status. */
    private volatile String trackerReason = "configured";
    private volatile DiskExports exports;
    private final Map<String, QemuGuest> guests = new ConcurrentHashMap<>();
    private final Map<String, QemuDomain> open = new ConcurrentHashMap<>();
    /** Guests whose handle an engine detached: what the next handle takes over. */
    private final Map<String, Held> detached = new ConcurrentHashMap<>();
    /** Guests an earlier version of the binding held when it stopped, by name, with their state files. */
    private final Map<String, GuestStateFile> inherited = new ConcurrentHashMap<>();
    private final Set<QemuReplica> replicas = ConcurrentHashMap.newKeySet();
    /** Names of clones being started from a replica (between {@link #cloneDir} and {@link #startClone}). */
    private final Set<String> cloning = ConcurrentHashMap.newKeySet();
    /** Replicas whose handle an engine detached, by domain name: the handles {@link #adoptReplica} returns. */
    private final Map<String, QemuReplica> detachedReplicas = new ConcurrentHashMap<>();
    /** Replicas an earlier version of the binding handed over, by domain name. */
    private final Map<String, InheritedReplica> inheritedReplicas = new ConcurrentHashMap<>();

    /** A detached guest: its RAM mapping and its dirty tracker (or {@code null} if no log ran). */
    private record Held(QemuGuest guest, GuestRam ram, DirtyTracker tracker) {
    }

    private record InheritedReplica(Path dir, ReplicaStateFile state) {
    }

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
        DirtyTrackerChoice choice = DirtyTrackerChoice.choose(config.dirty_tracker().trim().toLowerCase(
                java.util.Locale.ROOT), DirtyTrackerChoice::kernel);
        LOG.info("Dirty pages of QEMU guests are tracked with {}: {}", choice.tracker(), choice.reason());
        return choice;
    }

    /** Finds the guests and replicas an earlier instance on the same run directory left behind (see above). */
    public QemuHypervisor(QemuSettings settings) {
        this.settings = settings;
        rediscover();
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
        settings = QemuSettings.of(config, tracker.tracker());
        trackerReason = tracker.reason();
        LOG.info("QEMU binding reconfigured; new guests use {}", settings);
    }

    /**
     * Lets go of every guest and replica without ending anything, for the next version of the binding (see above).
     * The engine must have stopped using this instance's handles.
     */
    @Deactivate
    public void deactivate() {
        Map<String, String> held = new TreeMap<>();
        synchronized (this) {
            letGoOfGuests(held);
        }
        // not under this monitor: a replica being activated holds its lock and then takes this monitor.
        // Replicas first, then the detached ones: one being detached meanwhile moves from the first to the second
        List<QemuReplica> handed = new ArrayList<>(replicas);
        handed.forEach(this::handOver);
        new ArrayList<>(detachedReplicas.values()).forEach(this::handOver);
        LOG.info("QEMU binding stopping; its guests run on, protected: {}; replicas kept: {}", held,
                handed.size() + detachedReplicas.size() + inheritedReplicas.size());
        replicas.clear();
        detachedReplicas.clear();
        inheritedReplicas.clear();
    }

    private void letGoOfGuests(Map<String, String> held) {
        open.forEach((name, d) -> held.put(name, d.handOver()));
        detached.forEach((name, h) -> held.put(name, QemuDomain.handOver(h.tracker())));
        inherited.forEach((name, st) -> held.put(name, st.dirtyLog()));
        open.clear();
        detached.clear();
        inherited.clear();
        for (QemuGuest g : guests.values()) {
            GuestStateFile st = GuestStateFile.of(g);
            try {
                if (g.process().isAlive()) {
                    (held.containsKey(g.id().name()) ? st.held(held.get(g.id().name())) : st)
                            .write(g.process().dir());
                }
            } catch (IOException e) {
                LOG.warn("Cannot write the state file of {}; the next version of the binding will not find it: {}",
                        g.id(), e.getMessage());
            }
            g.process().disconnect();
        }
        guests.clear();
    }

    private void handOver(QemuReplica r) {
        try {
            r.handOver();
        } catch (IOException e) {
            LOG.warn("Dropped the replica of {}: {}", r.spec().id(), e.getMessage());
        }
    }

    /** Finds what an earlier instance on this run directory left: guests with a state file, replicas with one. */
    private void rediscover() {
        Path run = settings.runDir();
        if (!Files.isDirectory(run)) {
            return;
        }
        List<Path> dirs;
        try (Stream<Path> list = Files.list(run)) {
            dirs = list.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            LOG.warn("Cannot look for guests left running in {}: {}", run, e.getMessage());
            return;
        }
        for (Path dir : dirs) {
            if (Files.exists(dir.resolve(GuestStateFile.NAME))) {
                rediscoverGuest(dir);
            } else if (Files.exists(dir.resolve(ReplicaStateFile.NAME))) {
                rediscoverReplica(dir);
            }
        }
    }

    private void rediscoverGuest(Path dir) {
        GuestStateFile st;
        QemuProcess p;
        try {
            st = GuestStateFile.read(dir);
            p = QemuProcess.reconnect(st.name(), dir, st.taps(), settings);
        } catch (IOException | HypervisorException e) {
            LOG.warn("Cannot take hold of the guest in {} again; leaving it alone: {}", dir, e.getMessage());
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (p == null) {
            LOG.info("qemu:{} no longer runs; removing its left-over directory {}", st.name(), dir);
            deleteTree(dir);
            return;
        }
        QemuGuest g;
        try {
            g = new QemuGuest(new DomainId(BINDING, st.name()), p, definitionOf(new DomainId(BINDING, st.name()),
                    st.options()),
                    settings.forGuest(st.accel(), st.netns(), st.bridge(), st.dirtyTracker()), st.disks());
            st.released().write(dir); // taken: a later start must not take the same log again
        } catch (IOException | RuntimeException e) {
            LOG.warn("Cannot take hold of qemu:{} (pid {}) again; leaving it alone: {}", st.name(), p.pid(),
                    e.getMessage());
            p.disconnect();
            return;
        }
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

    private void rediscoverReplica(Path dir) {
        ReplicaStateFile st;
        try {
            st = ReplicaStateFile.read(dir);
            long size = Files.size(dir.resolve("ram"));
            if (size != st.spec().memoryBytes()) {
                throw new IOException("its RAM file has " + size + " bytes, not " + st.spec().memoryBytes());
            }
        } catch (IOException e) {
            LOG.warn("Removing the unusable replica in {}: {}", dir, e.getMessage());
            deleteTree(dir);
            return;
        }
        String name = st.spec().id().name();
        InheritedReplica found = new InheritedReplica(dir, st);
        InheritedReplica previous = inheritedReplicas.get(name);
        InheritedReplica dropped = found;
        if (previous == null || previous.state().committedEpoch() < st.committedEpoch()) {
            inheritedReplicas.put(name, found);
            dropped = previous;
        }
        LOG.info("Found the replica of {} in {} at epoch {}", st.spec().id(), dir, st.committedEpoch());
        if (dropped != null) {
            LOG.info("Removing an older replica of {} in {}", st.spec().id(), dropped.dir());
            deleteTree(dropped.dir());
        }
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
        List<DomainInfo> out = new ArrayList<>();
        for (QemuGuest g : guests.values()) {
            QemuDomain d = open.get(g.id().name());
            out.add(d != null ? d.info() : new DomainInfo(g.id(), g.vm().memoryBytes(), QemuDomain.PAGE_SIZE,
                    g.process().isAlive(), "QEMU guest (pid " + g.process().pid() + ")"));
        }
        out.sort(Comparator.comparing(d -> d.id().name()));
        return out;
    }

    /**
     * Takes hold of guest {@code id}: the one already running under that name, or a new VM started from
     * {@code options} ({@link GuestDefinitions}: a libvirt domain XML, a VM's own options, or the demo guest's). The
     * guest's RAM mapping and dirty log belong to the returned handle until it is closed.
     */
    @Override
    public synchronized ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        if (!BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a QEMU guest (qemu:NAME)");
        }
        if (open.containsKey(id.name())) {
            throw new HypervisorException(id + " is already open");
        }
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
            GuestDefinitions.Resolved wanted = definitions().resolve(id, options);
            Availability a = availability();
            if (!a.available()) {
                throw new HypervisorException("cannot start " + id + ": " + a.reason());
            }
            g = boot(id, wanted);
        } else if (!options.isEmpty()) {
            GuestDefinitions.Resolved wanted = definitions().resolve(id, options);
            VmDefinition vm = wanted.demo() != null ? wanted.demo().definition(settings, g.vm().disks().isEmpty()
                    ? g.process().dir().resolve(DEMO_DISK) : Path.of(g.vm().disks().get(0).file())) : wanted.vm();
            if (!vm.equals(g.vm())) {
                throw new HypervisorException(id + " already runs with " + g.vm().toMap() + "; leave out the options "
                        + "to protect it as it is");
            }
        }
        QemuDomain d = new QemuDomain(this, id, g);
        open.put(id.name(), d);
        return d;
    }

    /**
     * The machine a canonical map defines ({@link VmDefinition#toMap()}, as HELLO and the state files carry it), or,
     * for the demo guest's options (as a node of the previous release sends them), the demo guest on this host.
     */
    VmDefinition definitionOf(DomainId id, Map<String, String> options) {
        return options.containsKey("machine") ? VmDefinition.parse(options)
                : DemoGuest.parse(options).definition(settings, settings.runDir().resolve(id.name()).resolve(DEMO_DISK));
    }

    private GuestDefinitions definitions() {
        return new GuestDefinitions(settings);
    }

    /**
     * Hands over guest {@code id} that an engine {@linkplain QemuDomain#detach() detached}, or that an earlier version
     * of this binding held when it stopped, with its dirty log as it runs: the first harvest of the returned handle
     * reports every page written since the previous handle's last harvest. Empty when the guest is not held here, is
     * gone, or its dirty log did not survive (none ran, or the compare-scan tracker's copy was lost with the earlier
     * version of the binding); {@link #open} then takes hold of it anew.
     */
    @Override
    public synchronized Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
        if (!BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a QEMU guest (qemu:NAME)");
        }
        if (open.containsKey(id.name())) {
            throw new HypervisorException(id + " is already open");
        }
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
            case "uffd": {
                GuestRam ram = QemuDomain.mapRam(id, g);
                return Optional.of(hold(new QemuDomain(this, id, g, ram, QemuDomain.adoptUffdLog(g, ram)),
                        "left running by the earlier version of the binding"));
            }
            case "compare":
                LOG.warn("{} cannot be adopted: its dirty log (dirty.tracker=compare) compared against a copy of its RAM "
                        + "kept in the memory of the earlier version of the binding, which its update dropped; a new "
                        + "protection copies it whole", id);
                return Optional.empty();
            default:
                LOG.info("{} ran without a dirty log when the binding was updated; it is not adopted", id);
                return Optional.empty();
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
    private void dropHold(String name) {
        closeTracker(detached.remove(name));
        inherited.remove(name);
    }

    private static void closeTracker(Held h) {
        if (h != null && h.tracker() != null) {
            h.tracker().close();
        }
    }

    private QemuGuest boot(DomainId id, GuestDefinitions.Resolved wanted) throws HypervisorException {
        QemuSettings s = settings;
        Path dir = s.runDir().resolve(id.name());
        if (Files.exists(dir)) {
            deleteTree(dir); // left over from a guest that is not running (a running one is in guests)
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new HypervisorException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        List<GuestDisk> disks = new ArrayList<>();
        try {
            VmDefinition vm;
            if (wanted.demo() != null) {
                demoFilesPresent(s);
                vm = wanted.demo().definition(s, dir.resolve(DEMO_DISK));
                if (wanted.demo().diskMib() > 0) {
                    createDemoDisk(id, dir.resolve(DEMO_DISK), wanted.demo());
                }
            } else {
                vm = wanted.vm();
                wanted.notes().forEach(n -> LOG.info("{}: {}", id, n));
                vm = vm.withDisks(new DiskImages(s, id).prepare(vm.disks()));
            }
            for (int i = 0; i < vm.disks().size(); i++) {
                disks.add(export(id, i, vm.disks().get(i)));
            }
            List<String> taps = new ArrayList<>();
            for (int i = 0; i < vm.nics().size(); i++) {
                taps.add(tapName(dir, i));
            }
            QemuProcess p = QemuProcess.start(id.name(), dir, vm, s, false, taps, disks);
            QemuGuest g = new QemuGuest(id, p, vm, s, disks);
            guests.put(id.name(), g);
            writeStateFile(g);
            LOG.info("Booted {}: {} MiB, {} vCPU, {}, {} disk(s){}", id, vm.memoryBytes() >> 20, vm.cpus(),
                    vm.directKernelBoot() ? "kernel " + vm.kernel() : "BIOS boot from " + vm.disks().get(0).dev(),
                    vm.disks().size(), vm.nics().isEmpty() ? ", no NIC" : ", taps " + taps);
            return g;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            disks.forEach(this::unexport);
            deleteTree(dir);
            throw new HypervisorException("starting " + id + " interrupted");
        } catch (HypervisorException | RuntimeException e) {
            disks.forEach(this::unexport);
            deleteTree(dir);
            throw e;
        }
    }

    private static void demoFilesPresent(QemuSettings s) throws HypervisorException {
        for (Path p : List.of(s.kernel(), s.initrd())) {
            if (!Files.isReadable(p)) {
                throw new HypervisorException("the demo guest's " + p + " is missing (the native/ module builds it)");
            }
        }
    }

    /** Writes what a new guest is, so that a later version of the binding finds it if this one stops. */
    private static void writeStateFile(QemuGuest g) {
        try {
            GuestStateFile.of(g).write(g.process().dir());
        } catch (IOException e) {
            LOG.warn("Cannot write the state file of {}: {}", g.id(), e.getMessage());
        }
    }

    /**
     * Makes the demo guest's disk: a sparse raw image in its directory with an ext4 filesystem (e2fsprogs' mkfs.ext4,
     * initialised eagerly so that the guest does not write the inode tables in the background).
     */
    private static void createDemoDisk(DomainId id, Path image, DemoGuest demo)
            throws HypervisorException, InterruptedException {
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            f.setLength((long) demo.diskMib() << 20);
        } catch (IOException ex) {
            throw new HypervisorException("cannot create the disk image " + image + " of " + id + ": "
                    + ex.getMessage(), ex);
        }
        QemuProcess.run(List.of("mkfs.ext4", "-q", "-F", "-L", "romulus-data", "-E",
                "lazy_itable_init=0,lazy_journal_init=0,nodiscard", image.toString()), 120);
    }

    /** Serves disk {@code index} of {@code id} (a raw image) over this node's NBD exports, where every write is logged. */
    private GuestDisk export(DomainId id, int index, VmDisk disk) throws HypervisorException {
        DiskExports e = exports;
        if (e == null) {
            throw new HypervisorException(id + " has a disk (" + disk.dev() + ", " + disk.file() + "), which is served "
                    + "to it over NBD by this node's disk exports so that its writes are replicated: install the "
                    + "romulus-nbd feature");
        }
        try {
            return e.export(exportName(id) + (index == 0 ? "" : "-" + disk.dev()), disk.dev(), Path.of(disk.file()));
        } catch (IOException ex) {
            throw new HypervisorException("cannot export disk " + disk.dev() + " (" + disk.file() + ") of " + id + ": "
                    + ex.getMessage(), ex);
        }
    }

    static String exportName(DomainId id) {
        return "qemu-" + id.name();
    }

    /** Stops serving a guest's disk: the export's name is the path of its NBD URI. */
    private void unexport(GuestDisk disk) {
        DiskExports e = exports;
        if (disk == null || e == null || !disk.source().startsWith("nbd+unix:///")) {
            return;
        }
        String rest = disk.source().substring("nbd+unix:///".length());
        int q = rest.indexOf('?');
        e.unexport(q < 0 ? rest : rest.substring(0, q));
    }

    /** Tap device names are at most 15 characters; one per guest directory and NIC. */
    static String tapName(Path dir, int nic) {
        return String.format("rt%08x", dir.toAbsolutePath().toString().hashCode()) + (nic == 0 ? "" : "n" + nic);
    }

    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
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
        dropReplicas(spec.id().name()); // a new replica is copied whole: the kept ones are of no more use
        Path dir;
        do { // an earlier version of the binding in this JVM counted from 1 too
            dir = settings.runDir().resolve(spec.id().name() + ".replica-" + ProcessHandle.current().pid() + "-"
                    + REPLICAS.incrementAndGet());
        } while (Files.exists(dir));
        QemuReplica r = QemuReplica.create(this, spec, vm, dir);
        replicas.add(r);
        return r;
    }

    /**
     * Hands over the replica of {@code spec.id()} that an engine {@linkplain QemuReplica#detach() detached}, or that an
     * earlier version of this binding handed over when it stopped: at its committed epoch, ready for further epochs
     * and for failover. Empty when none is kept here; a kept replica whose memory or page size differs from
     * {@code spec} is dropped, and this is empty.
     */
    @Override
    public synchronized Optional<Replica> adoptReplica(ReplicaSpec spec) throws HypervisorException {
        String name = spec.id().name();
        QemuReplica r = detachedReplicas.remove(name);
        if (r == null) {
            InheritedReplica found = inheritedReplicas.remove(name);
            if (found == null) {
                return Optional.empty();
            }
            if (!fits(found.state().spec(), spec)) {
                LOG.info("Dropping the kept replica of {}: it is of {}, not {}", spec.id(), found.state().spec(), spec);
                deleteTree(found.dir());
                return Optional.empty();
            }
            try {
                r = QemuReplica.adopt(this, found.dir(), found.state());
            } catch (IOException | RuntimeException e) {
                LOG.warn("Dropping the kept replica of {} in {}: {}", spec.id(), found.dir(), e.getMessage());
                deleteTree(found.dir());
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

    /** A replica's handle was detached: {@code next} takes it over, kept for {@link #adoptReplica}. */
    void replicaDetached(QemuReplica old, QemuReplica next) {
        QemuReplica previous = detachedReplicas.put(next.spec().id().name(), next); // before leaving replicas
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

    private void dropReplicas(String name) {
        QemuReplica r = detachedReplicas.remove(name);
        if (r != null) {
            r.close();
        }
        InheritedReplica found = inheritedReplicas.remove(name);
        if (found != null) {
            deleteTree(found.dir());
        }
    }

    /**
     * Failover: starts QEMU on a replica's RAM file waiting for its device state, loads the state, lets the guest run
     * and announces its MAC address, so the network learns where it is now.
     */
    synchronized QemuDomain activate(DomainId id, VmDefinition vm, Path dir, Path deviceState, long epoch,
            List<GuestDisk> disks) throws HypervisorException {
        refuseRunning(id);
        Resumed r = resume(id, vm, dir, deviceState, disks, "activating");
        LOG.info("Activated {} from checkpoint {}: device state loaded in {} ms, running after {} ms (pid {})", id,
                epoch, r.loadedMs(), r.runningMs(), r.domain().guest().process().pid());
        return r.domain();
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
        Path dir = settings.runDir().resolve(id.name());
        deleteTree(dir);
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
            Resumed r = resume(id, vm, dir, deviceState, List.of(), "starting the clone");
            LOG.info("Started {}, a clone of {} at checkpoint {}: replica copied in {} ms, device state loaded in {} ms,"
                    + " running after {} ms (pid {}{})", id, of, epoch, copyMs, r.loadedMs(), r.runningMs(),
                    r.domain().guest().process().pid(), vm.nics().isEmpty() ? "" : ", taps "
                    + r.domain().guest().process().taps() + (QemuProcess.bridgeOf(vm.nics().get(0), settings).isEmpty()
                    ? "" : " in bridge " + QemuProcess.bridgeOf(vm.nics().get(0), settings)));
            return r.domain();
        } catch (HypervisorException | RuntimeException e) {
            deleteTree(dir);
            throw e;
        } finally {
            cloning.remove(id.name());
        }
    }

    /** Scale-out: the copy into a clone's directory failed; removes the directory and frees the name. */
    synchronized void cloneFailed(DomainId id, Path dir) {
        deleteTree(dir);
        cloning.remove(id.name());
    }

    private void refuseRunning(DomainId id) throws HypervisorException {
        QemuGuest running = guests.get(id.name());
        if (running != null && running.process().isAlive()) {
            throw new HypervisorException(id + " already runs on this node (pid " + running.process().pid() + ")");
        }
    }

    /** A guest resumed from an image: its handle, and when its device state was loaded and it ran. */
    private record Resumed(QemuDomain domain, long loadedMs, long runningMs) {
    }

    /**
     * Starts QEMU on the RAM file {@code dir/ram} waiting for a device state, loads {@code deviceState}, lets the
     * guest run and announces its MAC address; the guest is then one of this node's, held by the returned handle.
     */
    private Resumed resume(DomainId id, VmDefinition vm, Path dir, Path deviceState, List<GuestDisk> disks,
            String what) throws HypervisorException {
        QemuSettings s = settings;
        long started = System.nanoTime();
        QemuProcess p;
        List<String> taps = new ArrayList<>();
        for (int i = 0; i < vm.nics().size(); i++) {
            taps.add(tapName(dir, i));
        }
        try {
            p = QemuProcess.start(id.name(), dir, vm, s, true, taps, disks);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException(what + " " + id + " interrupted");
        }
        try {
            QmpClient qmp = p.qmp();
            qmp.execute("migrate-incoming", QmpClient.arguments().put("uri", "exec:cat " + deviceState));
            awaitStatus(qmp, id, "paused", s.qmpTimeoutMs());
            long loaded = System.nanoTime();
            qmp.execute("cont", null);
            if (!vm.nics().isEmpty()) {
                qmp.execute("announce-self", QmpClient.arguments().put("initial", 50).put("max", 550)
                        .put("rounds", 5).put("step", 100));
            }
            QemuGuest g = new QemuGuest(id, p, vm, s, disks);
            guests.put(id.name(), g);
            writeStateFile(g);
            QemuDomain d = new QemuDomain(this, id, g);
            open.put(id.name(), d);
            return new Resumed(d, TimeUnit.NANOSECONDS.toMillis(loaded - started),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        } catch (IOException e) {
            p.close();
            throw new HypervisorException(what + " " + id + " failed: " + e.getMessage() + QemuProcess.logTail(dir),
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.close();
            throw new HypervisorException(what + " " + id + " interrupted");
        }
    }

    private static void awaitStatus(QmpClient qmp, DomainId id, String wanted, int timeoutMs)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        String status = "";
        while (System.nanoTime() < deadline) {
            JsonNode migration = qmp.execute("query-migrate", null);
            if ("failed".equals(migration.path("status").asText())) {
                throw new IOException("loading the device state failed: "
                        + migration.path("error-desc").asText("no reason given"));
            }
            status = qmp.execute("query-status", null).path("status").asText();
            if (status.equals(wanted)) {
                return;
            }
            Thread.sleep(2);
        }
        throw new IOException(id + " is " + status + ", not " + wanted + ", " + timeoutMs + " ms after the load");
    }

    void released(QemuDomain d) {
        open.remove(d.guest().id().name(), d);
    }

    private void forget(QemuGuest g) {
        guests.remove(g.id().name(), g);
        dropHold(g.id().name());
        QemuDomain d = open.remove(g.id().name());
        if (d != null) {
            d.close();
        }
    }

    /** The run state QEMU reports for guest {@code name} ({@code query-status}: running, paused, ...). */
    public String runState(String name) throws HypervisorException {
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
    public synchronized void destroy(String name) throws HypervisorException {
        QemuGuest g = guests.get(name);
        if (g == null) {
            throw new HypervisorException("no QEMU guest '" + name + "' runs on this node");
        }
        g.process().close(); // killed first, so that releasing the hold on it cannot let it run again
        forget(g);
        g.disks().forEach(this::unexport);
        deleteTree(g.process().dir());
        LOG.info("Stopped {}", g.id());
    }

    /** Like {@link #destroy} for a guest that may already be gone. */
    synchronized void destroyIfKnown(String name) throws HypervisorException {
        if (guests.containsKey(name)) {
            destroy(name);
        }
    }

    /** Stops every guest this node runs (tests, and the demo's stop). */
    public void destroyAll() {
        for (String name : new ArrayList<>(guests.keySet())) {
            try {
                destroy(name);
            } catch (HypervisorException e) {
                LOG.debug("{} went away meanwhile", name, e);
            }
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            LOG.warn("Could not remove {}: {}", dir, e.getMessage());
        }
    }
}
