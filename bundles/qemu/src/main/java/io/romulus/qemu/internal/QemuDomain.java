package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.qemu.internal.dirty.CompareDirtyTracker;
import io.romulus.qemu.internal.dirty.DirtyTracker;
import io.romulus.qemu.internal.dirty.RamMapping;
import io.romulus.qemu.internal.dirty.UffdDirtyTracker;
import io.romulus.qemu.internal.vm.VmNic;
import io.romulus.support.qmp.QmpClient;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary's hold on one running QEMU guest: pause and resume over QMP, dirty pages from the userfaultfd tracker
 * (or the compare-scan fallback), page copies straight from the shared RAM file, device state from
 * {@code xen-save-devices-state}. Closing it releases the hold; the guest runs on (stop it with
 * {@link QemuHypervisor#destroy}).
 *
 * <p>{@link #detach()} lets go of the handle but not of the protection: the guest runs on, its RAM mapping and its
 * dirty tracker stay with the binding, and {@link QemuHypervisor#adopt} hands them to a new handle, whose first
 * harvest reports every page written since this handle's last one. One thread at a time uses a handle (the engine's
 * epoch loop); once detached or closed it refuses every command.
 */
final class QemuDomain implements ProtectedDomain {

    private static final Logger LOG = LoggerFactory.getLogger(QemuDomain.class);
    static final int PAGE_SIZE = 4096;

    private final QemuGuests owner;
    private final DomainId id;
    private final QemuGuest guest;
    private final GuestRam ram;
    private final Path deviceStateFile;
    private DirtyTracker tracker;
    /** Write-protect faults behind the last harvest, -1 before the first. */
    private long writeFaults = -1;
    /** The QMP replies' hand-offs from the reader thread since {@link #takeHandOffNanos()} last took them. */
    private final long[] handOff = new long[1];
    private boolean paused;
    /**
     * The device state captured while the guest was paused, which it has not run since: the final checkpoint's at a
     * switchover, kept as is by {@link #stopAsReplica} (the replica then holds exactly what the backup acknowledged).
     */
    private byte[] stateWhilePaused;
    private boolean closed;
    /** Detached or handed over: another handle, or the next version of the binding, holds the guest now. */
    private boolean handedOn;
    /** How the guest came to run when it was activated from a replica, else empty. */
    private volatile String activationDetail = "";
    /**
     * What reaches the guest from its switchover's final pause on ({@link #keepInbound()}), or null; kept past
     * {@link #stopAsReplica} until {@link #takeInbound()}.
     */
    private InboundCapture inbound;
    /** When the guest's first frame after its activation came; empty for a guest not activated from a replica. */
    private volatile CompletableFuture<OptionalLong> firstFrame = CompletableFuture.completedFuture(
            OptionalLong.empty());

    QemuDomain(QemuGuests owner, DomainId id, QemuGuest guest) throws HypervisorException {
        this(owner, id, guest, mapRam(id, guest), null);
    }

    /** A handle over a guest whose RAM is mapped already and whose dirty log, if {@code tracker} is set, runs. */
    QemuDomain(QemuGuests owner, DomainId id, QemuGuest guest, GuestRam ram, DirtyTracker tracker) {
        this.owner = owner;
        this.id = id;
        this.guest = guest;
        this.deviceStateFile = guest.process().dir().resolve("device-state");
        this.ram = ram;
        this.tracker = tracker;
    }

    /**
     * Records how the guest came to run and when its first frame came ({@link ProtectedDomain#activationDetail()},
     * {@link ProtectedDomain#firstFrameAfterActivation()}).
     */
    void activated(String detail, CompletableFuture<OptionalLong> first) {
        activationDetail = detail;
        firstFrame = first;
    }

    @Override
    public CompletionStage<OptionalLong> firstFrameAfterActivation() {
        return firstFrame.copy();
    }

    /** The guest was activated and left paused (a switchover): {@link #resume()} lets it run. */
    void activatedPaused(String detail) {
        activationDetail = detail;
        paused = true;
    }

    @Override
    public String activationDetail() {
        return activationDetail;
    }

    /** QEMU's {@code announce-self}: three rounds, 50 ms apart, so that a frame the fenced copy sent late is undone. */
    @Override
    public void announce() throws HypervisorException {
        if (guest.vm().nics().isEmpty()) {
            return;
        }
        try {
            guest.process().qmp().execute("announce-self", QmpClient.arguments().put("initial", 0).put("max", 100)
                    .put("rounds", 3).put("step", 50));
        } catch (IOException e) {
            throw new HypervisorException("announcing " + id + " again failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("announcing " + id + " again interrupted");
        }
    }

    /** Switchover: from now on what the host sends into the guest's taps is kept ({@link InboundCapture}). */
    @Override
    public void keepInbound() {
        dropInbound();
        List<String> taps = guest.process().taps();
        if (taps.isEmpty() || closed) {
            return;
        }
        try {
            inbound = InboundCapture.start(guest.settings().netns(), taps,
                    guest.vm().nics().stream().map(VmNic::mac).toList());
        } catch (IOException | RuntimeException e) {
            LOG.warn("{}: cannot keep what reaches its taps {} during the switchover ({}); what clients send until "
                    + "the backup has its address is lost, and retransmitted", id, taps, e.getMessage());
        }
    }

    @Override
    public List<InboundFrame> takeInbound() {
        InboundCapture c = inbound;
        inbound = null;
        return c == null ? List.of() : c.take();
    }

    private void dropInbound() {
        InboundCapture c = inbound;
        inbound = null;
        if (c != null) {
            c.close();
        }
    }

    /** Switchover, on the new primary: each frame goes into the guest through its NIC's tap. */
    @Override
    public int deliverInbound(List<InboundFrame> frames) {
        if (frames.isEmpty()) {
            return 0;
        }
        try {
            return InboundCapture.deliver(guest.settings().netns(), guest.process().taps(), frames);
        } catch (IOException | RuntimeException e) {
            LOG.warn("{}: the {} frames that reached its old copy could not be delivered: {}", id, frames.size(),
                    e.getMessage());
            return 0;
        }
    }

    static GuestRam mapRam(DomainId id, QemuGuest guest) throws HypervisorException {
        try {
            return GuestRam.map(guest.process().dir().resolve("ram"), guest.vm().memoryBytes(), PAGE_SIZE);
        } catch (IOException e) {
            throw new HypervisorException("cannot map the RAM of " + id + ": " + e.getMessage(), e);
        }
    }

    QemuGuest guest() {
        return guest;
    }

    GuestRam ram() {
        return ram;
    }

    @Override
    public DomainInfo info() {
        return new DomainInfo(id, ram.bytes(), PAGE_SIZE, guest.process().isAlive() && !paused,
                "QEMU guest (" + guest.settings().accel() + ", pid " + guest.process().pid() + ", "
                        + (ram.bytes() >> 20) + " MiB, dirty log " + guest.settings().dirtyTracker() + ")");
    }

    private QmpClient qmp() throws HypervisorException {
        if (closed) {
            throw new HypervisorException(id + " is no longer open here");
        }
        if (!guest.process().isAlive()) {
            throw new HypervisorException("the QEMU of " + id + " is gone" + QemuProcess.logTail(guest.process().dir()));
        }
        return guest.process().qmp();
    }

    @Override
    public void pause() throws HypervisorException {
        command("stop");
        paused = true;
    }

    @Override
    public void resume() throws HypervisorException {
        stateWhilePaused = null;
        command("cont");
        paused = false;
    }

    private void command(String name) throws HypervisorException {
        try {
            qmp().execute(name, null, handOff);
        } catch (IOException e) {
            throw new HypervisorException(name + " of " + id + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException(name + " of " + id + " interrupted");
        }
    }

    @Override
    public void startDirtyLog() throws HypervisorException {
        if (tracker != null) {
            return; // running, possibly since before this handle was adopted: keeps what it logged
        }
        if (closed) {
            throw new HypervisorException(id + " is no longer open here");
        }
        try {
            if (guest.settings().dirtyTracker().equals("uffd")) {
                tracker = startUffdLog(guest.process().pid(), ram);
            } else {
                tracker = new CompareDirtyTracker(ram.views(), PAGE_SIZE);
            }
            LOG.info("Dirty log of {} started ({})", id, tracker.name());
        } catch (IOException e) {
            throw new HypervisorException("cannot track the written pages of " + id + ": " + e.getMessage()
                    + (guest.settings().dirtyTracker().equals("uffd")
                            ? " (dirty.tracker=compare works on any kernel, slower)" : ""), e);
        }
    }

    /** Where QEMU maps the guest's RAM file. */
    /**
     * Starts the userfaultfd dirty log of QEMU process {@code pid}, which maps {@code ram}: every page written from
     * now on shows up in a harvest.
     */
    static DirtyTracker startUffdLog(long pid, GuestRam ram) throws IOException, HypervisorException {
        RamMapping m = ramMapping(pid, ram);
        return UffdDirtyTracker.attach(pid, QemuSettings.UFFD_FD, m.start(), m.length(), PAGE_SIZE);
    }

    private static RamMapping ramMapping(long pid, GuestRam ram) throws IOException, HypervisorException {
        RamMapping m = UffdDirtyTracker.findMapping(pid, ram.file().toString());
        if (m.length() != ram.bytes()) {
            throw new HypervisorException("QEMU maps " + m.length() + " bytes of " + ram.file() + ", not "
                    + ram.bytes());
        }
        return m;
    }

    /**
     * Takes over the userfaultfd dirty log that an earlier version of the binding left running in the guest's QEMU:
     * takes QEMU's userfaultfd again, without write-protecting the RAM again.
     */
    static DirtyTracker adoptUffdLog(QemuGuest guest, GuestRam ram) throws HypervisorException {
        try {
            RamMapping m = ramMapping(guest.process().pid(), ram);
            return UffdDirtyTracker.adopt(guest.process().pid(), QemuSettings.UFFD_FD, m.start(), m.length(),
                    PAGE_SIZE);
        } catch (IOException e) {
            throw new HypervisorException("cannot take over the dirty log of " + guest.id() + ": " + e.getMessage(),
                    e);
        }
    }

    @Override
    public long[] harvestDirty() throws HypervisorException {
        if (closed) {
            throw new HypervisorException(id + " is no longer open here");
        }
        if (tracker == null) {
            throw new HypervisorException("the dirty log of " + id + " is not started");
        }
        try {
            long[] pages = tracker.harvest();
            // asynchronous write-protect: each page written was unprotected by one fault; comparing takes none
            writeFaults = tracker instanceof UffdDirtyTracker ? pages.length : 0;
            return pages;
        } catch (IOException e) {
            throw new HypervisorException("harvesting the written pages of " + id + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public long writeFaultsOfLastHarvest() {
        return writeFaults;
    }

    @Override
    public void stopDirtyLog() {
        if (tracker != null) {
            tracker.close();
            tracker = null;
        }
    }

    @Override
    public void copyPages(long[] pfns, int from, int count, ByteBuffer staging) {
        ram.copyOut(pfns, from, count, staging);
    }

    @Override
    public byte[] captureDeviceState() throws HypervisorException {
        try {
            qmp().execute("xen-save-devices-state", QmpClient.arguments()
                    .put("filename", deviceStateFile.toString()).put("live", false), handOff);
            byte[] state = Files.readAllBytes(deviceStateFile);
            stateWhilePaused = paused ? state : null;
            return state;
        } catch (IOException e) {
            throw new HypervisorException("saving the device state of " + id + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("saving the device state of " + id + " interrupted");
        }
    }

    /** {@code xen-save-devices-state} and {@code cont} in one write: QEMU resumes the guest once the state is saved. */
    @Override
    public byte[] captureDeviceStateAndResume() throws HypervisorException {
        stateWhilePaused = null;
        try {
            qmp().executeAll(List.of("xen-save-devices-state", "cont"), Arrays.asList(QmpClient.arguments()
                    .put("filename", deviceStateFile.toString()).put("live", false), null), handOff);
            paused = false;
            return Files.readAllBytes(deviceStateFile);
        } catch (IOException e) {
            throw new HypervisorException("saving the device state of " + id + " and resuming it failed: "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("saving the device state of " + id + " interrupted");
        }
    }

    @Override
    public long takeHandOffNanos() {
        long n = handOff[0];
        handOff[0] = 0;
        return n;
    }

    @Override
    public List<GuestInterface> networkInterfaces() {
        return guest.process().guestInterfaces(guest.vm(), guest.settings().netns());
    }

    @Override
    public List<GuestDisk> disks() {
        return guest.disks();
    }

    /** The guest's definition, as the backup must start it: {@link io.romulus.qemu.internal.vm.VmDefinition#toMap}. */
    @Override
    public Optional<Map<String, String>> replicaOptions() {
        return Optional.of(guest.vm().toMap());
    }

    /**
     * Switchover: saves the paused guest's device state, stops its dirty log, kills its QEMU (it never runs here
     * again) and keeps its RAM file, with that device state, as a replica committed at {@code epoch}: the new
     * primary resumes it without a full copy.
     */
    @Override
    public Replica stopAsReplica(ReplicaSpec spec, long epoch) throws HypervisorException {
        if (closed || handedOn) {
            throw new HypervisorException(id + " is no longer held by this handle");
        }
        if (!paused) {
            throw new HypervisorException(id + " runs: it is kept as a replica only while paused");
        }
        long start = System.nanoTime();
        // the final checkpoint's, where the guest has not run since: what the backup has, and no second save
        byte[] state = stateWhilePaused != null ? stateWhilePaused : captureDeviceState();
        long saved = System.nanoTime();
        stopDirtyLog();
        long unlogged = System.nanoTime();
        closed = true;
        Replica r = owner.stopAsReplica(id.name(), spec, state, epoch);
        LOG.info("{} kept as a replica at checkpoint {}: device state taken in {} us, dirty log stopped in {} us, QEMU "
                + "stopped and its RAM file kept in {} us", id, epoch, (saved - start) / 1000, (unlogged - saved) / 1000,
                (System.nanoTime() - unlogged) / 1000);
        return r;
    }

    /** Fencing: kills this guest's QEMU (before releasing the hold, so it cannot run on) and removes its files. */
    @Override
    public void destroy() throws HypervisorException {
        if (handedOn) {
            throw new HypervisorException(id + " is no longer held by this handle (detached or handed over)");
        }
        dropInbound();
        guest.process().close();
        close();
        owner.destroyIfKnown(id.name());
    }

    /**
     * Lets go of this handle without ending the protection: the guest runs on (resumed if it was paused), and its RAM
     * mapping and dirty tracker, still logging, wait in the binding for {@link QemuHypervisor#adopt}.
     */
    @Override
    public void detach() {
        if (closed) {
            return;
        }
        resumeIfPaused();
        closed = true;
        handedOn = true;
        owner.detached(this, tracker);
        tracker = null;
    }

    /**
     * The binding stops (its bundle is updated): like {@link #detach()}, but only what lives on in the kernel survives,
     * so the tracker lets go of its descriptors and leaves the log running in QEMU where it can.
     *
     * @return the dirty log that ran: {@code uffd} if it goes on, {@code compare} if it is lost, or {@code none}
     */
    String handOver() {
        if (closed) {
            return "none";
        }
        resumeIfPaused();
        closed = true;
        handedOn = true;
        String log = handOver(tracker);
        tracker = null;
        return log;
    }

    /** Lets go of a running dirty tracker for the next version of the binding; returns what {@link #handOver()} does. */
    static String handOver(DirtyTracker tracker) {
        if (tracker == null) {
            return "none";
        }
        String name = tracker.name();
        return tracker.release() ? "uffd" : name;
    }

    private void resumeIfPaused() {
        if (paused && guest.process().isAlive()) {
            try {
                resume();
            } catch (HypervisorException e) {
                LOG.warn("Resuming {} failed: {}", id, e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        dropInbound();
        stopDirtyLog();
        resumeIfPaused();
        closed = true;
        owner.released(this);
    }
}
