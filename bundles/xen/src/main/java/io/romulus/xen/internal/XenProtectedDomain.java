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
    private final Destroyer destroyer;
    private final int domainType;
    private long[] gpfns = new long[0];
    private volatile boolean paused;
    private boolean logDirty;
    private int[] xenVersion;
    private CpuPolicy policy;
    private volatile String lastEvent = "";

    /** Ends a domain for good (libvirt's destroy). */
    interface Destroyer {
        void destroy(String name) throws HypervisorException;
    }

    /**
     * @param deviceModel the HVM device model, or {@code null} for a PVH domain
     */
    XenProtectedDomain(DomainId id, int domid, XenControl xc, DeviceModel deviceModel, DomainXml xml,
            GuestMemory memory, Destroyer destroyer) {
        this.id = id;
        this.domid = domid;
        this.xc = xc;
        this.deviceModel = deviceModel;
        this.xml = xml;
        this.memory = memory;
        this.destroyer = destroyer;
        this.domainType = xml.kind() == DomainXml.GuestKind.PVH ? StreamFormat.DOMAIN_X86_PVH : StreamFormat.DOMAIN_X86_HVM;
    }

    int domid() {
        return domid;
    }

    GuestMemory memory() {
        return memory;
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
        try {
            if (deviceModel != null) {
                deviceModel.cont();
            }
        } finally {
            xc.unpause(domid);
            paused = false;
        }
    }

    @Override
    public void startDirtyLog() throws HypervisorException {
        // what makes every later image restorable on its own: taken once per protection run
        xenVersion = xc.version();
        policy = xc.cpuPolicy(domid);
        if (!logDirty) {
            xc.enableLogDirty(domid);
            logDirty = true;
        } else {
            xc.cleanLogDirty(domid, memory.pfnSpace(), false);
        }
        if (deviceModel != null) {
            deviceModel.setGlobalDirtyLog(true);
        }
    }

    @Override
    public long[] harvestDirty() throws HypervisorException {
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
        try {
            destroyer.destroy(xml.name());
            LOG.info("Xen domain {} (domid {}) destroyed: its backup runs it now", id, domid);
        } finally {
            close();
        }
    }

    @Override
    public void close() {
        try {
            stopDirtyLog();
        } catch (HypervisorException e) {
            LOG.debug("stopping the dirty log of {}: {}", id, e.getMessage());
        }
        if (paused) {
            try {
                resume();
            } catch (HypervisorException e) {
                LOG.warn("domain {} could not be resumed when released: {}", id, e.getMessage());
            }
        }
        if (deviceModel != null) {
            deviceModel.close();
        }
    }
}
