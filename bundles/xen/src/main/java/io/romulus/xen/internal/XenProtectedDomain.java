package io.romulus.xen.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.xen.internal.dm.DeviceModel;
import io.romulus.xen.internal.image.StreamFormat;
import io.romulus.xen.internal.image.XenDeviceState;
import io.romulus.xen.internal.libvirt.DomainXml;
import io.romulus.xen.internal.xc.HvmParams;
import io.romulus.xen.internal.xc.XenControl;
import io.romulus.xen.internal.xc.XenControl.CpuPolicy;

/**
 * A running Xen HVM or PVH domU under protection, on the primary. Pause and resume are
 * {@code xc_domain_pause}/{@code unpause} (plus QMP {@code stop}/{@code cont} of an HVM domain's device model); the
 * dirty log is Xen's shadow log-dirty mode, harvested with {@code CLEAN}; pages are copied through foreign mappings;
 * the device state is Xen's HVM context, HVM parameters and TSC info, the device model's saved state, and what the
 * replica's image needs to be restorable on its own (libvirt's XML, the CPU policy, the populated pfns).
 *
 * <p>The engine's pages are {@link GuestMemory slots}: populated guest pfns, numbered densely. {@link #close()}
 * leaves the domain running; {@link #destroy()} ends it through libvirt.
 *
 * <p>{@link #detach()} lets go of the domain without ending its protection: log-dirty mode stays on in Xen (and the
 * device model keeps reporting its DMA writes to it), a paused domain runs again, and the binding keeps what it knew
 * of the domain, so that {@link XenHypervisor#adopt} hands it to a new handle whose first harvest returns what was
 * written since this handle's last CLEAN. A detached handle refuses every call but {@link #info()},
 * {@link #networkInterfaces()} and {@link #disks()}; its {@link #close()} does nothing.
 */
final class XenProtectedDomain implements ProtectedDomain {

    private static final Logger LOG = LoggerFactory.getLogger(XenProtectedDomain.class);
    private static final java.util.regex.Pattern DRBD_DEVICE = java.util.regex.Pattern.compile(
            "/dev/drbd(\\d+|/by-res/[^/]+(/\\d+)?)");

    private final DomainId id;
    private final int domid;
    private final XenControl xc;
    private final DeviceModel deviceModel;
    private final DomainXml xml;
    private final GuestMemory memory;
    private final Owner owner;
    private final boolean adopted;
    private final int domainType;
    private long[] gpfns = new long[0];
    private volatile boolean paused;
    private boolean logDirty;
    private int[] xenVersion;
    private CpuPolicy policy;
    private volatile String lastEvent = "";
    private volatile boolean detached;
    private boolean closed;

    /** The binding, told what becomes of a handle. */
    interface Owner {
        /** Ends a domain for good (libvirt's destroy). */
        void destroy(String name) throws HypervisorException;

        /** The handle was closed or destroyed: the domain is no longer protected through it. */
        void closed(XenProtectedDomain handle);

        /** The handle was detached: the domain is protected on, for the next handle that adopts it. */
        void detached(XenProtectedDomain handle);
    }

    /**
     * @param deviceModel the HVM device model, or {@code null} for a PVH domain
     * @param adopted     the domain was handed over with log-dirty mode on: the dirty log is running and holds what
     *                    the previous handle did not harvest
     */
    XenProtectedDomain(DomainId id, int domid, XenControl xc, DeviceModel deviceModel, DomainXml xml,
            GuestMemory memory, Owner owner, boolean adopted) {
        this.id = id;
        this.domid = domid;
        this.xc = xc;
        this.deviceModel = deviceModel;
        this.xml = xml;
        this.memory = memory;
        this.owner = owner;
        this.adopted = adopted;
        this.logDirty = adopted;
        this.domainType = xml.kind() == DomainXml.GuestKind.PVH ? StreamFormat.DOMAIN_X86_PVH : StreamFormat.DOMAIN_X86_HVM;
    }

    int domid() {
        return domid;
    }

    GuestMemory memory() {
        return memory;
    }

    DomainId id() {
        return id;
    }

    DomainXml xml() {
        return xml;
    }

    boolean isDetached() {
        return detached;
    }

    private void driving() throws HypervisorException {
        if (detached) {
            throw new HypervisorException("this handle on " + id + " was detached; adopt the domain again");
        }
    }

    /**
     * Readies an adopted handle: what every image needs (Xen's version, the CPU policy), and the device model's DMA
     * writes reported to the dirty log (it kept doing so: asking again is harmless). Pauses nothing.
     */
    void resumeProtection() throws HypervisorException {
        xenVersion = xc.version();
        policy = xc.cpuPolicy(domid);
        if (deviceModel != null) {
            deviceModel.setGlobalDirtyLog(true);
        }
    }

    @Override
    public DomainInfo info() {
        boolean running = !paused;
        try {
            running = !xc.domain(domid).paused() && !paused;
        } catch (HypervisorException e) {
            running = false;
        }
        return new DomainInfo(id, memory.slots() * GuestMemory.PAGE_SIZE, GuestMemory.PAGE_SIZE, running,
                "Xen " + xml.kind() + " domU (domid " + domid + ", " + memory.slots() + " populated pages of "
                        + memory.pfnSpace() + " pfns" + (lastEvent.isEmpty() ? "" : "; last event " + lastEvent) + ")");
    }

    /** A libvirt lifecycle event of this domain ({@code STOPPED/DESTROYED}, {@code CRASHED/PANICKED}). */
    void lifecycle(String event) {
        lastEvent = event;
    }

    @Override
    public void pause() throws HypervisorException {
        driving();
        try {
            xc.pause(domid);
        } catch (HypervisorException e) {
            throw lastEvent.isEmpty() ? e
                    : new HypervisorException(id + " cannot be paused; libvirt's last event for it: " + lastEvent, e);
        }
        paused = true;
        if (deviceModel != null) {
            deviceModel.stop();
        }
    }

    @Override
    public void resume() throws HypervisorException {
        driving();
        try {
            if (deviceModel != null) {
                deviceModel.cont();
            }
        } finally {
            xc.unpause(domid);
            paused = false;
        }
    }

    /**
     * Starts the dirty log: log-dirty mode on, or, when this handle has it on already, a CLEAN that empties it. An
     * adopted handle keeps what is logged: it only takes what the images need.
     */
    @Override
    public void startDirtyLog() throws HypervisorException {
        driving();
        // what makes every later image restorable on its own: taken once per protection run
        xenVersion = xc.version();
        policy = xc.cpuPolicy(domid);
        if (!logDirty) {
            xc.enableLogDirty(domid);
            logDirty = true;
        } else if (!adopted) {
            xc.cleanLogDirty(domid, memory.pfnSpace(), false);
        }
        if (deviceModel != null) {
            deviceModel.setGlobalDirtyLog(true);
        }
    }

    @Override
    public long[] harvestDirty() throws HypervisorException {
        driving();
        long[] dirty = xc.cleanLogDirty(domid, memory.pfnSpace(), true);
        long[] slots = new long[dirty.length];
        for (int i = 0; i < dirty.length; i++) {
            long slot = memory.slot(dirty[i]);
            if (slot < 0) {
                throw new HypervisorException("domain " + id + " wrote pfn " + dirty[i] + ", which was not populated"
                        + " when protection started: its memory layout changed (ballooning?). Xen domains must run"
                        + " with memory == maxmem and no balloon activity while protected; unprotect and protect again");
            }
            slots[i] = slot;
        }
        // ascending pfns give ascending slots
        return slots;
    }

    @Override
    public void stopDirtyLog() throws HypervisorException {
        driving();
        if (logDirty) {
            logDirty = false;
            if (deviceModel != null) {
                deviceModel.setGlobalDirtyLog(false);
            }
            xc.disableLogDirty(domid);
        }
    }

    @Override
    public void copyPages(long[] pfns, int from, int count, ByteBuffer staging) throws HypervisorException {
        driving();
        if (gpfns.length < count) {
            gpfns = new long[Math.max(count, GuestMemory.BATCH)];
        }
        for (int i = 0; i < count; i++) {
            gpfns[i] = memory.pfn(pfns[from + i]);
        }
        int[] errors = new int[count];
        int failed = xc.copyPages(domid, gpfns, 0, count, staging, errors);
        if (failed > 0) {
            for (int i = 0; i < count; i++) {
                if (errors[i] != 0) {
                    throw new HypervisorException("domain " + id + ": pfn " + gpfns[i] + " can no longer be mapped"
                            + " (errno " + errors[i] + "); its memory layout changed (ballooning?)");
                }
            }
        }
    }

    @Override
    public byte[] captureDeviceState() throws HypervisorException {
        driving();
        if (xenVersion == null) {
            throw new HypervisorException("captureDeviceState before startDirtyLog on " + id);
        }
        List<Long> params = new ArrayList<>();
        for (Map.Entry<Integer, Long> p : HvmParams.saved(xc, domid).entrySet()) {
            params.add((long) p.getKey());
            params.add(p.getValue());
        }
        byte[] context = xc.hvmContext(domid);
        byte[] emulatorContext = null;
        byte[] emulatorXenstore = null;
        if (deviceModel != null) {
            emulatorContext = deviceModel.saveState();
            emulatorXenstore = physmap();
        }
        XenDeviceState state = new XenDeviceState(xenVersion[0], xenVersion[1], domainType, xml.xml(),
                memory.ranges(), policy.cpuidLeaves(), policy.msrEntries(), xc.tscInfo(domid),
                params.stream().mapToLong(Long::longValue).toArray(), context, emulatorXenstore, emulatorContext);
        return state.encode();
    }

    /**
     * The device model's {@code physmap} keys, as libxl saves them: {@code physmap/ID/start_addr}, {@code size}
     * and {@code name}, each followed by its value, NUL-terminated; {@code null} when there are none.
     */
    private byte[] physmap() throws HypervisorException {
        String root = "/local/domain/0/device-model/" + domid + "/";
        List<String> entries = xc.xenstoreDirectory(root + "physmap");
        if (entries.isEmpty()) {
            return null;
        }
        StringBuilder packed = new StringBuilder();
        for (String entry : entries) {
            for (String sub : new String[] {"start_addr", "size", "name"}) {
                String key = "physmap/" + entry + "/" + sub;
                String value = xc.xenstoreRead(root + key);
                if (value == null) {
                    throw new HypervisorException("xenstore " + root + key + " is missing");
                }
                packed.append(key).append('\0').append(value).append('\0');
            }
        }
        return packed.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    @Override
    public List<GuestInterface> networkInterfaces() {
        List<GuestInterface> out = new ArrayList<>();
        int i = 0;
        for (DomainXml.Interface nic : xml.interfaces()) {
            String dev = nic.target().isEmpty() ? "vif" + domid + "." + i : nic.target();
            out.add(new GuestInterface("net" + i, nic.mac(), "vif", dev, null));
            i++;
        }
        return out;
    }

    @Override
    public List<GuestDisk> disks() {
        List<GuestDisk> out = new ArrayList<>();
        for (DomainXml.Disk d : xml.disks()) {
            long size = 0;
            if ("file".equals(d.type()) || "block".equals(d.type())) {
                try {
                    size = Files.size(Path.of(d.source()));
                } catch (IOException | RuntimeException e) {
                    size = 0;
                }
            }
            // a DRBD device is replicated by DRBD (bundle drbd); anything else by whatever replicates its kind
            String kind = DRBD_DEVICE.matcher(d.source()).matches() ? "drbd" : d.type();
            out.add(new GuestDisk(d.target(), kind, d.source(), size));
        }
        return out;
    }

    @Override
    public void destroy() throws HypervisorException {
        driving();
        try {
            owner.destroy(xml.name());
            LOG.info("Xen domain {} (domid {}) destroyed: its backup runs it now", id, domid);
        } finally {
            close();
        }
    }

    /**
     * Lets go of the domain and leaves its protection running: log-dirty mode stays on, a paused domain runs again,
     * the device model's connection closes (its dirty logging stays on). Does nothing on a closed or detached handle.
     */
    @Override
    public void detach() {
        if (detached || closed) {
            return;
        }
        resumeIfPaused("detached");
        detached = true;
        if (deviceModel != null) {
            deviceModel.close();
        }
        owner.detached(this);
        LOG.info("Detached {} (domid {}): it runs on with log-dirty mode on, for the next handle to adopt", id, domid);
    }

    private void resumeIfPaused(String when) {
        if (paused) {
            try {
                resume();
            } catch (HypervisorException e) {
                LOG.warn("domain {} could not be resumed when {}: {}", id, when, e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        if (detached || closed) {
            return;
        }
        try {
            stopDirtyLog();
        } catch (HypervisorException e) {
            LOG.debug("stopping the dirty log of {}: {}", id, e.getMessage());
        }
        resumeIfPaused("released");
        closed = true;
        if (deviceModel != null) {
            deviceModel.close();
        }
        owner.closed(this);
    }
}
