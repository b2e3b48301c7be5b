package io.romulus.qemu.internal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

import com.fasterxml.jackson.databind.JsonNode;

import io.romulus.api.disk.DiskExports;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.Hypervisor.Availability;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.support.qmp.QmpClient;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;
import io.romulus.qemu.internal.vm.VmNic;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the QEMU of a guest: boots a new one from its definition (its directory, the demo guest's disk, its disks
 * served over this node's NBD exports), or resumes one from a RAM file and a device state (failover, clones). It keeps
 * no guests: the {@link QemuGuest} it returns is the caller's to register.
 */
final class GuestLauncher {

    private static final Logger LOG = LoggerFactory.getLogger(GuestLauncher.class);
    /** How long {@code cont} waits for the first-frame watch's sockets (opened during the load, so normally not). */
    private static final long FIRST_FRAME_READY_MS = 20;

    private final Supplier<QemuSettings> settings;
    private final Supplier<DiskExports> exports;
    private final Supplier<Availability> availability;
    /** Whether each bridge ({@code netns/bridge}) has a MAC address of its own ({@link BridgeAddress}), checked once */
    private final Map<String, Boolean> bridgesFixed = new ConcurrentHashMap<>();

    /**
     * @param settings the binding's settings of the moment (new guests use them)
     * @param exports the node's NBD exports, {@code null} while there are none
     * @param availability whether QEMU guests can be started on this node, and why not
     */
    GuestLauncher(Supplier<QemuSettings> settings, Supplier<DiskExports> exports, Supplier<Availability> availability) {
        this.settings = settings;
        this.exports = exports;
        this.availability = availability;
    }

    QemuSettings settings() {
        return settings.get();
    }

    /** What {@code options} ask for ({@link GuestDefinitions}: a libvirt domain XML, a VM's own options, the demo). */
    GuestDefinitions.Resolved resolve(DomainId id, Map<String, String> options) throws HypervisorException {
        return new GuestDefinitions(settings.get()).resolve(id, options);
    }

    /** The machine {@code wanted} defines for {@code running}, a guest that runs already (with its own disk). */
    VmDefinition definitionFor(GuestDefinitions.Resolved wanted, QemuGuest running) {
        return wanted.demo() != null ? wanted.demo().definition(settings.get(), running.vm().disks().isEmpty()
                ? running.process().dir().resolve(RunDirectory.DEMO_DISK)
                : Path.of(running.vm().disks().get(0).file())) : wanted.vm();
    }

    /**
     * The machine a canonical map defines ({@link VmDefinition#toMap()}, as HELLO and the state files carry it), or,
     * for the demo guest's options (as a node of the previous release sends them), the demo guest on this host.
     */
    VmDefinition definitionOf(DomainId id, Map<String, String> options) {
        QemuSettings s = settings.get();
        return options.containsKey("machine") ? VmDefinition.parse(options)
                : DemoGuest.parse(options).definition(s, s.runDir().resolve(id.name()).resolve(RunDirectory.DEMO_DISK));
    }

    /**
     * Boots guest {@code id} as {@code wanted} defines it in a new directory (removing one left over by a guest that
     * does not run), with its disks exported; on failure nothing of it is left.
     */
    QemuGuest boot(DomainId id, GuestDefinitions.Resolved wanted) throws HypervisorException {
        Availability a = availability.get();
        if (!a.available()) {
            throw new HypervisorException("cannot start " + id + ": " + a.reason());
        }
        QemuSettings s = settings.get();
        Path dir = s.runDir().resolve(id.name());
        if (Files.exists(dir)) {
            RunDirectory.deleteTree(dir); // left over from a guest that is not running (a running one is registered)
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
                vm = wanted.demo().definition(s, dir.resolve(RunDirectory.DEMO_DISK));
                if (wanted.demo().diskMib() > 0) {
                    createDemoDisk(id, dir.resolve(RunDirectory.DEMO_DISK), wanted.demo());
                }
            } else {
                vm = wanted.vm();
                wanted.notes().forEach(n -> LOG.info("{}: {}", id, n));
                vm = vm.withDisks(new DiskImages(s, id).prepare(vm.disks()));
            }
            for (int i = 0; i < vm.disks().size(); i++) {
                disks.add(export(id, i, vm.disks().get(i)));
            }
            List<String> taps = RunDirectory.tapNames(dir, vm.nics().size());
            checkBridges(vm, s);
            QemuProcess p = QemuProcess.start(id.name(), dir, vm, s, false, taps, disks);
            LOG.info("Booted {}: {} MiB, {} vCPU, {}, {} disk(s){}", id, vm.memoryBytes() >> 20, vm.cpus(),
                    vm.directKernelBoot() ? "kernel " + vm.kernel() : "BIOS boot from " + vm.disks().get(0).dev(),
                    vm.disks().size(), vm.nics().isEmpty() ? ", no NIC" : ", taps " + taps);
            return new QemuGuest(id, p, vm, s, disks);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            disks.forEach(this::unexport);
            RunDirectory.deleteTree(dir);
            throw new HypervisorException("starting " + id + " interrupted");
        } catch (HypervisorException | RuntimeException e) {
            disks.forEach(this::unexport);
            RunDirectory.deleteTree(dir);
            throw e;
        }
    }

    /**
     * A guest resumed from an image: when its resume began ({@link System#nanoTime()}), when its MAC address was
     * announced ahead of the load (0: not ahead, a cold start), when its device state was loaded and when it ran, and
     * the watch for its first frame.
     */
    record Resumed(QemuGuest guest, boolean standby, long started, long announced, long loaded, long running,
            FirstFrameWatch firstFrame) {

        long loadedMs() {
            return TimeUnit.NANOSECONDS.toMillis(loaded - started);
        }

        /** Milliseconds from the start until the guest ran. */
        long runningMs() {
            return TimeUnit.NANOSECONDS.toMillis(running - started);
        }

        /** Where the time went, for the FAILOVER alarm ({@link io.romulus.api.hypervisor.ProtectedDomain}). */
        String detail() {
            if (standby && loaded == started) {
                return "standby QEMU prepared at the switchover's \"prepare\" (device state loaded and MAC address "
                        + "moved then), running after " + runningMs() + " ms";
            }
            return (standby ? "standby QEMU; MAC announced in " + TimeUnit.NANOSECONDS.toMillis(announced - started)
                    + " ms, " : "QEMU started cold (no standby); ") + "device state loaded in " + loadedMs()
                    + " ms, running after " + runningMs() + " ms";
        }
    }

    /**
     * Starts QEMU on the RAM file {@code dir/ram} waiting for a device state, loads {@code deviceState}, lets the
     * guest run and announces its MAC address, so the network learns where it is now.
     *
     * @param what what the resume is for, for the messages
     */
    Resumed resume(DomainId id, VmDefinition vm, Path dir, Path deviceState, List<GuestDisk> disks, String what)
            throws HypervisorException {
        return resume(id, vm, dir, deviceState, disks, what, true);
    }

    /** {@link #resume}; without {@code run} the guest is left paused once its device state is loaded. */
    Resumed resume(DomainId id, VmDefinition vm, Path dir, Path deviceState, List<GuestDisk> disks, String what,
            boolean run) throws HypervisorException {
        QemuSettings s = settings.get();
        long started = System.nanoTime();
        QemuProcess p;
        try {
            p = QemuProcess.start(id.name(), dir, vm, s, true, RunDirectory.tapNames(dir, vm.nics().size()), disks);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException(what + " " + id + " interrupted");
        }
        return load(id, vm, p, deviceState, disks, what, started, null, run);
    }

    /**
     * Failover into a {@link Standby}: while its MAC address moves here ({@link Standby#moveHere}, beside the load),
     * loads {@code deviceState} into the waiting QEMU, then lets the guest run and announces its address again. If
     * anything fails the standby's QEMU is killed and this throws; the caller may start a fresh one.
     */
    Resumed resumeStandby(DomainId id, VmDefinition vm, Standby standby, Path deviceState, List<GuestDisk> disks,
            boolean run, boolean preloaded) throws HypervisorException {
        QemuSettings s = settings.get();
        long started = System.nanoTime();
        QemuProcess p = standby.process();
        if (preloaded) {
            // a switchover's "prepare" loaded the device state and moved the MAC address here already
            return load(id, vm, p, null, disks, "activating the prepared standby of", started,
                    CompletableFuture.completedFuture(started), run);
        }
        CompletableFuture<Long> moved = moveHere(p, vm, s);
        return load(id, vm, p, deviceState, disks, "activating the standby of", started, moved, run);
    }

    /** {@link Standby#moveHere} on another thread; completes with when it was done. */
    private static CompletableFuture<Long> moveHere(QemuProcess p, VmDefinition vm, QemuSettings s) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                Standby.moveHere(p, vm, s);
                return System.nanoTime();
            } catch (HypervisorException e) {
                throw new CompletionException(e);
            }
        });
    }

    /**
     * Switchover, at "prepare": moves the guest's MAC address to the standby's taps ({@link Standby#moveHere}), runs
     * {@code moved}, then loads {@code deviceState} into its QEMU, which stays paused until {@link #resumeStandby}
     * with {@code preloaded} lets it run. Returns how long it took (ms); if anything fails the standby's QEMU is
     * killed and this throws.
     */
    long preload(DomainId id, VmDefinition vm, Standby standby, Path deviceState, Runnable moved)
            throws HypervisorException {
        QemuSettings s = settings.get();
        long started = System.nanoTime();
        QemuProcess p = standby.process();
        try {
            // first, and not beside the load: a client's next request, sent a few milliseconds after the old
            // primary's last reply, must find the address here already, or it is lost with the old copy and waits
            // for its TCP retransmission (200 ms and more)
            Standby.moveHere(p, vm, s);
        } catch (HypervisorException e) {
            p.close();
            throw new HypervisorException("preparing the standby of " + id + " failed: moving its MAC address here "
                    + "failed: " + e.getMessage(), e);
        }
        // what clients send reaches this host now: the old primary may stop its copy while the state loads
        moved.run();
        try {
            QmpClient qmp = p.qmp();
            qmp.execute("migrate-incoming", QmpClient.arguments().put("uri", "exec:cat " + deviceState));
            awaitStatus(qmp, id, "paused", s.qmpTimeoutMs());
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        } catch (IOException e) {
            p.close();
            throw new HypervisorException("preparing the standby of " + id + " failed: " + e.getMessage()
                    + QemuProcess.logTail(p.dir()), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.close();
            throw new HypervisorException("preparing the standby of " + id + " interrupted");
        }
    }

    /**
     * Loads the device state into {@code p}; with {@code run} lets the guest run and announces its MAC address,
     * without it leaves the guest paused (a switchover: the engine starts its dirty log first, then resumes it and
     * announces it).
     */
    private Resumed load(DomainId id, VmDefinition vm, QemuProcess p, Path deviceState, List<GuestDisk> disks,
            String what, long started, CompletableFuture<Long> moved, boolean run) throws HypervisorException {
        QemuSettings s = settings.get();
        // opened beside the load, so that it costs the failover nothing
        FirstFrameWatch firstFrame = FirstFrameWatch.start(s.netns(), vm.nics().isEmpty() ? List.of() : p.taps());
        try {
            QmpClient qmp = p.qmp();
            if (deviceState != null) {
                qmp.execute("migrate-incoming", QmpClient.arguments().put("uri", "exec:cat " + deviceState));
                awaitStatus(qmp, id, "paused", s.qmpTimeoutMs());
            }
            long loaded = deviceState == null ? started : System.nanoTime();
            long announced = 0;
            if (moved != null) {
                announced = moved.get(s.qmpTimeoutMs(), TimeUnit.MILLISECONDS);
            }
            if (!run) {
                return new Resumed(new QemuGuest(id, p, vm, s, disks), moved != null, started, announced, loaded,
                        loaded, firstFrame);
            }
            firstFrame.awaitReady(FIRST_FRAME_READY_MS);
            qmp.execute("cont", null);
            long running = System.nanoTime();
            if (!vm.nics().isEmpty()) {
                qmp.execute("announce-self", QmpClient.arguments().put("initial", 50).put("max", 550)
                        .put("rounds", 5).put("step", 100));
            }
            return new Resumed(new QemuGuest(id, p, vm, s, disks), moved != null, started, announced, loaded, running,
                    firstFrame);
        } catch (IOException | TimeoutException e) {
            p.close();
            throw new HypervisorException(what + " " + id + " failed: " + e.getMessage() + QemuProcess.logTail(
                    p.dir()), e);
        } catch (ExecutionException e) {
            p.close();
            Throwable cause = e.getCause() instanceof CompletionException c && c.getCause() != null ? c.getCause()
                    : e.getCause();
            throw new HypervisorException(what + " " + id + " failed: moving its MAC address here failed: "
                    + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.close();
            throw new HypervisorException(what + " " + id + " interrupted");
        }
    }

    /** Starts the standby of replica {@code id} in {@code dir}: see {@link Standby}. */
    Standby startStandby(DomainId id, VmDefinition vm, Path dir, List<GuestDisk> disks)
            throws HypervisorException, InterruptedException {
        QemuSettings s = settings.get();
        checkBridges(vm, s);
        return Standby.start(id, vm, dir, s, disks);
    }

    /**
     * Warns, once per bridge, where a bridge that {@code vm}'s taps join on this host has no MAC address of its own
     * ({@link BridgeAddress}); not on the way of a failover or a switchover (at a boot, and a standby's start).
     */
    private void checkBridges(VmDefinition vm, QemuSettings s) throws InterruptedException {
        for (VmNic nic : vm.nics()) {
            String bridge = QemuProcess.bridgeOf(nic, s);
            if (!bridge.isEmpty() && !bridgesFixed.containsKey(s.netns() + "/" + bridge)) {
                boolean fixed = false;
                try {
                    Optional<String> why = BridgeAddress.unfixed(s.netns(), bridge);
                    why.ifPresent(w -> LOG.warn("The {}", w));
                    fixed = why.isEmpty();
                } catch (HypervisorException e) {
                    LOG.warn("Cannot tell whether bridge {} has a MAC address of its own: {}", bridge, e.getMessage());
                }
                bridgesFixed.put(s.netns() + "/" + bridge, fixed);
            }
        }
    }

    /**
     * Whether bridge {@code bridge} of this host was found, at a boot or a standby's start, to have a MAC address of
     * its own; false where it was not checked (no command is run here: a switchover asks).
     */
    boolean bridgeFixed(String bridge) {
        return bridgesFixed.getOrDefault(settings.get().netns() + "/" + bridge, false);
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

    private static void demoFilesPresent(QemuSettings s) throws HypervisorException {
        for (Path p : List.of(s.kernel(), s.initrd())) {
            if (!Files.isReadable(p)) {
                throw new HypervisorException("the demo guest's " + p + " is missing (the native/ module builds it)");
            }
        }
    }

    /**
     * Makes the demo guest's disk: a sparse raw image in its directory with an ext4 filesystem (e2fsprogs' mkfs.ext4,
     * initialised eagerly so that the guest does not write the inode tables in the background).
     */
    private static void createDemoDisk(DomainId id, Path image, DemoGuest demo)
            throws HypervisorException, InterruptedException {
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
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
        DiskExports e = exports.get();
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

    private static String exportName(DomainId id) {
        return "qemu-" + id.name();
    }

    /** Stops serving a guest's disk: the export's name is the path of its NBD URI. */
    void unexport(GuestDisk disk) {
        DiskExports e = exports.get();
        if (disk == null || e == null || !disk.source().startsWith("nbd+unix:///")) {
            return;
        }
        String rest = disk.source().substring("nbd+unix:///".length());
        int q = rest.indexOf('?');
        e.unexport(q < 0 ? rest : rest.substring(0, q));
    }
}
