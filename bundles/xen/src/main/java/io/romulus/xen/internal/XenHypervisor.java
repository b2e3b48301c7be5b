package io.romulus.xen.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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

    @Deactivate
    public synchronized void deactivate() {
        new ArrayList<>(open.values()).forEach(XenProtectedDomain::close);
        open.clear();
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
        XenProtectedDomain p = new XenProtectedDomain(id, d.id(), xc, dm, xml, memory, this::destroy);
        open.put(id.name(), p);
        return p;
    }

    private void destroy(String name) throws HypervisorException {
        open.remove(name);
        host().destroy(name);
    }

    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
        if (!spec.options().isEmpty()) {
            throw new HypervisorException("the xen binding takes no options, the primary sent " + spec.options().keySet());
        }
        Path file = settings.imageDir().resolve(spec.id().name() + ".xenimg");
        return new XenReplica(spec, file, this::restore);
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
