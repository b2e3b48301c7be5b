package io.romulus.qemu.internal;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
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
import io.romulus.qemu.internal.qmp.QmpClient;

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
 * plus a device state that {@link QemuReplica#activate()} resumes in a new QEMU. Usable without OSGi:
 * {@code new QemuHypervisor(settings)}.
 *
 * <p>Guests outlive the hold on them: unprotecting a guest, or stopping this component, leaves it running.
 * {@link #destroy} stops one.
 */
@Component(service = Hypervisor.class, property = Hypervisor.BINDING + "=qemu", configurationPid = "io.romulus.qemu")
@Designate(ocd = QemuConfig.class)
public final class QemuHypervisor implements Hypervisor {

    public static final String BINDING = "qemu";
    private static final Logger LOG = LoggerFactory.getLogger(QemuHypervisor.class);
    private static final AtomicLong REPLICAS = new AtomicLong();

    private volatile QemuSettings settings;
    private volatile DiskExports exports;
    private final Map<String, QemuGuest> guests = new ConcurrentHashMap<>();
    private final Map<String, QemuDomain> open = new ConcurrentHashMap<>();

    @Activate
    public QemuHypervisor(QemuConfig config) {
        this(QemuSettings.of(config));
    }

    public QemuHypervisor(QemuSettings settings) {
        this.settings = settings;
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
        settings = QemuSettings.of(config);
        LOG.info("QEMU binding reconfigured; new guests use {}", settings);
    }

    @Deactivate
    void deactivate() {
        new ArrayList<>(open.values()).forEach(QemuDomain::close);
        if (!guests.isEmpty()) {
            LOG.info("QEMU binding stopping; its guests run on: {}", guests.keySet());
        }
    }

    @Override
    public String binding() {
        return BINDING;
    }

    @Override
    public Availability availability() {
        QemuSettings s = settings;
        if (!executable(s.qemuBinary())) {
            return Availability.no(s.qemuBinary() + " is not installed (Debian package qemu-system-x86)");
        }
        for (Path p : s.dirtyTracker().equals("uffd") ? List.of(s.kernel(), s.initrd(), s.preloadLibrary())
                : List.of(s.kernel(), s.initrd())) {
            if (!Files.isReadable(p)) {
                return Availability.no(p + " is missing (the native/ module builds it)");
            }
        }
        return Availability.yes();
    }

    private static boolean executable(String binary) {
        if (binary.contains("/")) {
            return new File(binary).canExecute();
        }
        return Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator))
                .anyMatch(d -> new File(d, binary).canExecute());
    }

    @Override
    public List<DomainInfo> domains() {
        List<DomainInfo> out = new ArrayList<>();
        for (QemuGuest g : guests.values()) {
            QemuDomain d = open.get(g.id().name());
            out.add(d != null ? d.info() : new DomainInfo(g.id(), g.options().memoryBytes(), QemuDomain.PAGE_SIZE,
                    g.process().isAlive(), "QEMU guest (pid " + g.process().pid() + ")"));
        }
        out.sort(Comparator.comparing(d -> d.id().name()));
        return out;
    }

    /**
     * Takes hold of guest {@code id}: the one already running under that name, or a new demo guest booted from
     * {@code options}. The guest's RAM mapping and dirty log belong to the returned handle until it is closed.
     */
    @Override
    public synchronized ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        if (!BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a QEMU guest (qemu:NAME)");
        }
        if (open.containsKey(id.name())) {
            throw new HypervisorException(id + " is already open");
        }
        QemuGuest g = guests.get(id.name());
        if (g != null && !g.process().isAlive()) {
            LOG.warn("The QEMU of {} is gone; booting it again", id);
            forget(g);
            g = null;
        }
        if (g == null) {
            GuestOptions parsed = GuestOptions.parse(options);
            Availability a = availability();
            if (!a.available()) {
                throw new HypervisorException("cannot start " + id + ": " + a.reason());
            }
            g = boot(id, parsed);
        } else if (!options.isEmpty() && !GuestOptions.parse(options).equals(g.options())) {
            throw new HypervisorException(id + " already runs with " + g.options().toMap() + "; leave out the options "
                    + "to protect it as it is");
        }
        QemuDomain d = new QemuDomain(this, id, g);
        open.put(id.name(), d);
        return d;
    }

    private QemuGuest boot(DomainId id, GuestOptions options) throws HypervisorException {
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
        try {
            GuestDisk disk = options.diskMib() > 0 ? createDisk(id, dir, options) : null;
            QemuProcess p;
            try {
                p = QemuProcess.start(id.name(), dir, options, s, false, tapName(dir), disk);
            } catch (HypervisorException | InterruptedException | RuntimeException e) {
                unexport(disk);
                throw e;
            }
            QemuGuest g = new QemuGuest(id, p, options, s, disk);
            guests.put(id.name(), g);
            LOG.info("Booted {}: {} MiB, {} vCPU, {}", id, options.memoryBytes() >> 20, options.cpus(),
                    options.nic().equals("tap") ? "tap " + p.tap() + " for " + options.ip() : "no NIC");
            return g;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            deleteTree(dir);
            throw new HypervisorException("starting " + id + " interrupted");
        } catch (HypervisorException | RuntimeException e) {
            deleteTree(dir);
            throw e;
        }
    }

    /**
     * Makes the guest's disk: a sparse raw image in its directory with an ext4 filesystem (e2fsprogs' mkfs.ext4,
     * initialised eagerly so that the guest does not write the inode tables in the background), served by this node's
     * NBD exports.
     */
    private GuestDisk createDisk(DomainId id, Path dir, GuestOptions options)
            throws HypervisorException, InterruptedException {
        DiskExports e = exports;
        if (e == null) {
            throw new HypervisorException(id + " has a disk (disk=" + options.diskMib() + "M), which is served to it over"
                    + " NBD by this node's disk exports: install the romulus-nbd feature");
        }
        Path image = dir.resolve("disk.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            f.setLength((long) options.diskMib() << 20);
        } catch (IOException ex) {
            throw new HypervisorException("cannot create the disk image " + image + ": " + ex.getMessage(), ex);
        }
        QemuProcess.run(List.of("mkfs.ext4", "-q", "-F", "-L", "romulus-data", "-E",
                "lazy_itable_init=0,lazy_journal_init=0,nodiscard", image.toString()));
        try {
            return e.export(exportName(id), "vda", image);
        } catch (IOException ex) {
            throw new HypervisorException("cannot export the disk of " + id + ": " + ex.getMessage(), ex);
        }
    }

    static String exportName(DomainId id) {
        return "qemu-" + id.name();
    }

    /** Stops serving a guest's disk, if it has one: the export's name is the path of its NBD URI. */
    private void unexport(GuestDisk disk) {
        DiskExports e = exports;
        if (disk == null || e == null || !disk.source().startsWith("nbd+unix:///")) {
            return;
        }
        String rest = disk.source().substring("nbd+unix:///".length());
        int q = rest.indexOf('?');
        e.unexport(q < 0 ? rest : rest.substring(0, q));
    }

    /** Tap device names are at most 15 characters; one per guest directory. */
    static String tapName(Path dir) {
        return String.format("rt%08x", dir.toAbsolutePath().toString().hashCode());
    }

    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
        if (spec.pageSize() != QemuDomain.PAGE_SIZE) {
            throw new HypervisorException("QEMU guests have " + QemuDomain.PAGE_SIZE + "-byte pages, not "
                    + spec.pageSize());
        }
        GuestOptions options = GuestOptions.parse(spec.options());
        if (options.memoryBytes() != spec.memoryBytes()) {
            throw new HypervisorException("the HELLO of " + spec.id() + " says " + spec.memoryBytes()
                    + " bytes of memory but its options say " + options.memoryBytes());
        }
        Path dir = settings.runDir().resolve(spec.id().name() + ".replica-" + ProcessHandle.current().pid() + "-"
                + REPLICAS.incrementAndGet());
        return new QemuReplica(this, spec, options, dir);
    }

    /**
     * Failover: starts QEMU on a replica's RAM file waiting for its device state, loads the state, lets the guest run
     * and announces its MAC address, so the network learns where it is now.
     */
    synchronized QemuDomain activate(DomainId id, GuestOptions options, Path dir, Path deviceState, long epoch,
            GuestDisk disk) throws HypervisorException {
        QemuGuest running = guests.get(id.name());
        if (running != null && running.process().isAlive()) {
            throw new HypervisorException(id + " already runs on this node (pid " + running.process().pid() + ")");
        }
        QemuSettings s = settings;
        long started = System.nanoTime();
        QemuProcess p;
        try {
            p = QemuProcess.start(id.name(), dir, options, s, true, tapName(dir), disk);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("activating " + id + " interrupted");
        }
        try {
            QmpClient qmp = p.qmp();
            qmp.execute("migrate-incoming", QmpClient.arguments().put("uri", "exec:cat " + deviceState));
            awaitStatus(qmp, id, "paused", s.qmpTimeoutMs());
            long loaded = System.nanoTime();
            qmp.execute("cont", null);
            if (options.nic().equals("tap")) {
                qmp.execute("announce-self", QmpClient.arguments().put("initial", 50).put("max", 550)
                        .put("rounds", 5).put("step", 100));
            }
            QemuGuest g = new QemuGuest(id, p, options, s, disk);
            guests.put(id.name(), g);
            QemuDomain d = new QemuDomain(this, id, g);
            open.put(id.name(), d);
            LOG.info("Activated {} from checkpoint {}: device state loaded in {} ms, running after {} ms (pid {})", id,
                    epoch, TimeUnit.NANOSECONDS.toMillis(loaded - started),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started), p.pid());
            return d;
        } catch (IOException e) {
            p.close();
            throw new HypervisorException("activating " + id + " failed: " + e.getMessage() + QemuProcess.logTail(dir),
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.close();
            throw new HypervisorException("activating " + id + " interrupted");
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
        QemuDomain d = open.remove(g.id().name());
        if (d != null) {
            d.close();
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
        unexport(g.disk());
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
