package io.romulus.xen.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.xen.internal.dm.DeviceModel;
import io.romulus.xen.internal.dm.QmpDeviceModel;
import io.romulus.xen.internal.image.XenDeviceState;
import io.romulus.xen.internal.libvirt.DomainXml;
import io.romulus.xen.internal.libvirt.LibvirtHost;
import io.romulus.xen.internal.libvirt.LibvirtHost.LibvirtDomain;
import io.romulus.xen.internal.xc.NativeXenControl;
import io.romulus.xen.internal.xc.XenControl;
import io.romulus.xen.internal.xc.XenDomainInfo;

/**
 * The {@code xen} binding: protects running Xen HVM and PVH domUs of this host. Domains are found, described and
 * restored through libvirt (its libxl driver); dirty logging, foreign mapping, pause and the HVM context go straight to
 * libxenctrl and libxenforeignmemory. A replica is a Xen domain image that libvirt restores on failover. Usable
 * without OSGi: {@code new XenHypervisor(settings, ...)}.
 *
 * <p>On a host without Xen the binding still starts and says why it is unavailable ({@link #availability()}).
 *
 * <p>Hand-over (ARCHITECTURE.md section 8): a protected domain's dirty log lives in Xen and a replica is a file, so
 * both outlive an engine and this binding's own revisions. A detached domain keeps log-dirty mode on and leaves a
 * record of its domid and memory layout in {@code image.dir} ({@code NAME.detached}); a detached replica leaves its
 * image and a record next to it ({@code NAME.xenimg.replica}). {@link #deactivate()} detaches whatever it still
 * holds, so that the next revision adopts it: {@link #adopt} and {@link #adoptReplica}.
 */
@Component(service = Hypervisor.class, property = Hypervisor.BINDING + "=xen", configurationPid = "io.romulus.xen")
@Designate(ocd = XenConfig.class)
public final class XenHypervisor implements Hypervisor {

    public static final String BINDING = "xen";
    private static final Logger LOG = LoggerFactory.getLogger(XenHypervisor.class);

    /** Opens the hypervisor's control interface. */
    public interface ControlOpener {
        XenControl open() throws HypervisorException;
    }

    /** Connects to libvirt. */
    public interface HostOpener {
        LibvirtHost connect(String uri) throws HypervisorException;
    }

    /** The device model of an HVM domain. */
    public interface DeviceModels {
        DeviceModel of(int domid, XenSettings settings);
    }

    private final ControlOpener controls;
    private final HostOpener hosts;
    private final DeviceModels deviceModels;
    private final Map<String, XenProtectedDomain> open = new ConcurrentHashMap<>();
    /** Handles detached in this instance, by domain name: what adopt needs without scanning memory again. */
    private final Map<String, XenProtectedDomain> detached = new ConcurrentHashMap<>();
    /** The replicas this instance created or adopted, by domain name, detached on deactivation. */
    private final Map<String, XenReplica> replicas = new ConcurrentHashMap<>();
    private final XenProtectedDomain.Owner owner = new XenProtectedDomain.Owner() {
        @Override
        public void destroy(String name) throws HypervisorException {
            XenHypervisor.this.destroy(name);
        }

        @Override
        public void closed(XenProtectedDomain handle) {
            open.remove(handle.id().name(), handle);
        }

        @Override
        public void detached(XenProtectedDomain handle) {
            XenHypervisor.this.detached(handle);
        }
    };
    private volatile XenSettings settings;
    private XenControl control;
    private LibvirtHost host;
    private AutoCloseable events;

    @Activate
    public XenHypervisor(XenConfig config) {
        this(XenSettings.of(config));
    }

    /** The binding on this host: libxenctrl through JNA, libvirt, and QEMU device models over QMP. */
    public XenHypervisor(XenSettings settings) {
        this(settings, NativeXenControl::open, LibvirtHost::connect,
                (domid, s) -> new QmpDeviceModel(s.qmpSocket(domid), s.stateFile(domid)));
    }

    public XenHypervisor(XenSettings settings, ControlOpener controls, HostOpener hosts, DeviceModels deviceModels) {
        this.settings = settings;
        this.controls = controls;
        this.hosts = hosts;
        this.deviceModels = deviceModels;
        Availability a = availability();
        if (a.available()) {
            LOG.info("Xen binding ready: {}", a.reason());
        } else {
            LOG.info("Xen binding loaded, but unavailable on this host: {}", a.reason());
        }
    }

    @Modified
    void modified(XenConfig config) {
        XenSettings next = XenSettings.of(config);
        synchronized (this) {
            if (!next.libvirtUri().equals(settings.libvirtUri())) {
                closeHost();
            }
            settings = next;
        }
        LOG.info("Xen binding reconfigured: {}", next);
    }

    /**
     * Detaches every domain and replica still held (the engine may be going on without this revision of the binding:
     * the next one adopts them), then lets go of libvirt and Xen. A domain detached here stays in log-dirty mode
     * until a handle adopts or opens it and closes it.
     */
    @Deactivate
    public synchronized void deactivate() {
        new ArrayList<>(open.values()).forEach(XenProtectedDomain::detach);
        open.clear();
        detached.clear();
        new ArrayList<>(replicas.values()).forEach(XenReplica::detach);
        replicas.clear();
        closeHost();
        if (control != null) {
            control.close();
            control = null;
        }
    }

    @Override
    public String binding() {
        return BINDING;
    }

    @Override
    public Availability availability() {
        List<String> problems = new ArrayList<>();
        String version = "";
        try {
            int[] v = control().version();
            version = "Xen " + v[0] + "." + v[1];
        } catch (HypervisorException e) {
            problems.add(e.getMessage());
        }
        String uri = settings.libvirtUri();
        try {
            host();
        } catch (HypervisorException e) {
            problems.add(e.getMessage());
        }
        return problems.isEmpty() ? new Availability(true, version + " through libvirt " + uri)
                : Availability.no(String.join("; ", problems));
    }

    @Override
    public List<DomainInfo> domains() throws HypervisorException {
        List<DomainInfo> out = new ArrayList<>();
        for (LibvirtDomain d : host().domains()) {
            XenProtectedDomain p = open.get(d.name());
            if (p != null) {
                out.add(p.info());
                continue;
            }
            DomainId id;
            try {
                id = new DomainId(BINDING, d.name());
            } catch (IllegalArgumentException e) {
                LOG.debug("domain '{}' has a name Romulus cannot address: {}", d.name(), e.getMessage());
                continue;
            }
            out.add(new DomainInfo(id, d.memoryKiB() * 1024, GuestMemory.PAGE_SIZE, d.running(),
                    "Xen " + d.osType() + " domU (domid " + d.id() + ", " + d.vcpus() + " vCPU)"));
        }
        return out;
    }

    /**
     * Takes hold of the running domain {@code id}: finds it in libvirt, reads its description, finds its populated
     * memory, and returns it ready for protection. No options: Xen domains are configured in libvirt or xl.
     */
    @Override
    public synchronized ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        if (!BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a Xen domain (xen:NAME)");
        }
        if (!options.isEmpty()) {
            throw new HypervisorException("the xen binding takes no options (got " + options.keySet()
                    + "): a Xen domain is configured in libvirt or xl, and Romulus protects it as it runs");
        }
        if (open.containsKey(id.name())) {
            throw new HypervisorException(id + " is already open");
        }
        forgetDetached(id.name());
        LibvirtHost h = host();
        LibvirtDomain d = h.domain(id.name());
        DomainXml xml = h.xml(id.name());
        if (xml.kind() == DomainXml.GuestKind.PV) {
            throw new HypervisorException(id + " is a PV guest (os type '" + xml.osType() + "'); Romulus protects HVM"
                    + " and PVH guests only: a PV guest's page tables would need pfn normalisation at every"
                    + " checkpoint. Run it as type='hvm' or 'xenpvh'");
        }
        XenControl xc = control();
        XenDomainInfo info = xc.domain(d.id());
        if (!info.hvm()) {
            throw new HypervisorException(id + " (domid " + d.id() + ") is not an HVM container in Xen's view");
        }
        if (info.dying() || info.shutdown()) {
            throw new HypervisorException(id + " (domid " + d.id() + ") is shutting down");
        }
        long started = System.nanoTime();
        GuestMemory memory = GuestMemory.scan(xc, d.id());
        LOG.info("Opened {} (domid {}, {}): {} populated pages in {} pfns, scanned in {} ms", id, d.id(), xml.kind(),
                memory.slots(), memory.pfnSpace(), (System.nanoTime() - started) / 1_000_000);
        DeviceModel dm = xml.kind() == DomainXml.GuestKind.HVM ? deviceModels.of(d.id(), settings) : null;
        XenProtectedDomain p = new XenProtectedDomain(id, d.id(), xc, dm, xml, memory, owner, false);
        open.put(id.name(), p);
        return p;
    }

    private Path detachedRecord(String name) {
        return settings.imageDir().resolve(name + ".detached");
    }

    /** A domain opened anew starts its dirty log afresh: what a detached handle left is of no use any more. */
    private void forgetDetached(String name) throws HypervisorException {
        detached.remove(name);
        try {
            Files.deleteIfExists(detachedRecord(name));
        } catch (IOException e) {
            throw new HypervisorException("cannot remove the hand-over record " + detachedRecord(name) + ": "
                    + e.getMessage(), e);
        }
    }

    private synchronized void detached(XenProtectedDomain p) {
        String name = p.id().name();
        open.remove(name, p);
        detached.put(name, p);
        GuestMemory m = p.memory();
        try {
            String uuid = host().domain(name).uuid();
            new HandOver.DomainRecord(name, p.domid(), uuid, m.pfnSpace(), m.ranges()).write(detachedRecord(name));
        } catch (IOException | HypervisorException e) {
            LOG.warn("{}: the hand-over record cannot be written ({}); only this revision of the binding can adopt it",
                    p.id(), e.getMessage());
        }
    }

    /**
     * Adopts a domain detached with log-dirty mode on, by an engine or by a previous revision of this binding. It
     * must still run in libvirt with the domid it had, Xen must still have log-dirty mode on for it (an ENABLE that
     * Xen refuses with EINVAL, which pauses nothing; one that Xen accepts means the log was turned off meanwhile:
     * it is turned off again and nothing is adopted), and its populated memory must be laid out as before. Nothing is
     * paused and the log is not cleaned: the first harvest returns every page written since the detached handle's
     * last one.
     *
     * @return the new handle, or empty when nothing was detached for {@code id} or its dirty log did not survive
     * @throws HypervisorException when a handle that was not detached holds the domain, or Xen fails otherwise
     */
    @Override
    public synchronized Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
        if (!BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a Xen domain (xen:NAME)");
        }
        String name = id.name();
        if (open.containsKey(name)) {
            throw new HypervisorException(id + " is held by a handle that was not detached");
        }
        XenProtectedDomain previous = detached.remove(name);
        Path recordFile = detachedRecord(name);
        HandOver.DomainRecord record;
        try {
            record = HandOver.DomainRecord.read(recordFile);
            Files.deleteIfExists(recordFile);
        } catch (IOException e) {
            LOG.warn("{}: the hand-over record cannot be read ({})", id, e.getMessage());
            record = null;
        }
        if (previous == null && record == null) {
            LOG.info("{}: nothing detached to adopt", id);
            return Optional.empty();
        }
        int domid = previous != null ? previous.domid() : record.domid();
        LibvirtHost h = host();
        LibvirtDomain d;
        try {
            d = h.domain(name);
        } catch (HypervisorException e) {
            LOG.info("{} cannot be adopted: {}", id, e.getMessage());
            return Optional.empty();
        }
        if (!d.running() || d.id() != domid) {
            LOG.info("{} cannot be adopted: it was detached as domid {}, libvirt has domid {} ({})", id, domid, d.id(),
                    d.state());
            return Optional.empty();
        }
        if (record != null && !record.uuid().equals(d.uuid())) {
            LOG.info("{} cannot be adopted: it was detached as UUID {}, libvirt's domain of that name is {}", id,
                    record.uuid(), d.uuid());
            return Optional.empty();
        }
        XenControl xc = control();
        XenDomainInfo info = xc.domain(domid);
        if (info.dying() || info.shutdown()) {
            LOG.info("{} (domid {}) cannot be adopted: it is shutting down", id, domid);
            return Optional.empty();
        }
        if (xc.enableLogDirtyIfOff(domid)) {
            xc.disableLogDirty(domid);
            LOG.warn("{} (domid {}) cannot be adopted: log-dirty mode was turned off since it was detached, so the"
                    + " pages written meanwhile are unknown", id, domid);
            return Optional.empty();
        }
        GuestMemory memory;
        if (previous != null) {
            memory = previous.memory();
        } else {
            memory = GuestMemory.scan(xc, domid);
            if (memory.pfnSpace() != record.pfnSpace() || !Arrays.equals(memory.ranges(), record.ranges())) {
                LOG.warn("{} (domid {}) cannot be adopted: its populated memory changed since it was detached ({} now,"
                        + " {} then)", id, domid, Arrays.toString(memory.ranges()), Arrays.toString(record.ranges()));
                return Optional.empty();
            }
        }
        DomainXml xml = h.xml(name);
        DeviceModel dm = xml.kind() == DomainXml.GuestKind.HVM ? deviceModels.of(domid, settings) : null;
        XenProtectedDomain p = new XenProtectedDomain(id, domid, xc, dm, xml, memory, owner, true);
        p.resumeProtection();
        open.put(name, p);
        LOG.info("Adopted {} (domid {}, {}): log-dirty mode was on, nothing paused, {} populated pages", id, domid,
                xml.kind(), memory.slots());
        return Optional.of(p);
    }

    private void destroy(String name) throws HypervisorException {
        open.remove(name);
        host().destroy(name);
    }

    /** Creates an empty replica image; one of the same domain that was detached is replaced. */
    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
        if (!spec.options().isEmpty()) {
            throw new HypervisorException("the xen binding takes no options, the primary sent " + spec.options().keySet());
        }
        XenReplica r = new XenReplica(spec, imageOf(spec), this::restore);
        replicas.put(spec.id().name(), r);
        return r;
    }

    private Path imageOf(ReplicaSpec spec) {
        return settings.imageDir().resolve(spec.id().name() + ".xenimg");
    }

    /**
     * Adopts the replica of {@code spec.id()} that was detached, by an engine or by a previous revision of this
     * binding: the image file and the record next to it, at its committed epoch.
     *
     * @return the replica, or empty when none was detached, or the one detached was made for another spec
     */
    @Override
    public Optional<Replica> adoptReplica(ReplicaSpec spec) throws HypervisorException {
        if (!spec.options().isEmpty()) {
            return Optional.empty();
        }
        Optional<XenReplica> r = XenReplica.adopt(spec, imageOf(spec), this::restore);
        r.ifPresent(x -> replicas.put(spec.id().name(), x));
        return r.map(Replica.class::cast);
    }

    /** Failover: libvirt restores the image, the file goes, and the new domain is opened for protection. */
    private ProtectedDomain restore(ReplicaSpec spec, Path image, XenDeviceState state) throws HypervisorException {
        long started = System.nanoTime();
        host().restore(image);
        LOG.info("Restored {} from {} in {} ms", spec.id(), image, (System.nanoTime() - started) / 1_000_000);
        try {
            Files.deleteIfExists(image);
        } catch (IOException e) {
            LOG.warn("cannot delete {}: {}", image, e.getMessage());
        }
        return open(spec.id(), Map.of());
    }

    private synchronized XenControl control() throws HypervisorException {
        if (control == null) {
            control = controls.open();
        }
        return control;
    }

    private synchronized LibvirtHost host() throws HypervisorException {
        if (host == null) {
            LibvirtHost h = hosts.connect(settings.libvirtUri());
            events = h.onLifecycle((name, event) -> {
                XenProtectedDomain p = open.get(name);
                if (p != null) {
                    LOG.info("libvirt: protected domain {} {}", name, event);
                    p.lifecycle(event);
                } else {
                    LOG.debug("libvirt: domain {} {}", name, event);
                }
            });
            host = h;
        }
        return host;
    }

    private synchronized void closeHost() {
        if (events != null) {
            try {
                events.close();
            } catch (Exception e) {
                LOG.debug("unsubscribing from libvirt events: {}", e.getMessage());
            }
            events = null;
        }
        if (host != null) {
            host.close();
            host = null;
        }
    }

    /** The domains held open (for tests and diagnostics). */
    XenProtectedDomain opened(String name) {
        return open.get(name);
    }
}
