package io.romulus.xen.internal.libvirt;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.BiConsumer;

import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;
import org.libvirt.Library;
import org.libvirt.LibvirtException;
import org.libvirt.event.LifecycleListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.hypervisor.HypervisorException;

/**
 * One libvirt connection ({@code xen:///system} on a Xen host through libvirt's libxl driver; {@code test:///default}
 * in tests): domain discovery, descriptions, lifecycle events, restore of a saved image and destruction. Every
 * libvirt error becomes a {@link HypervisorException} that names the connection; libvirt's own printing to stderr is
 * silenced, its errors reach the log through the exceptions. Thread-safe.
 */
public final class LibvirtHost implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LibvirtHost.class);
    /** {@code VIR_DOMAIN_XML_SECURE}: the description with passwords, as a restore needs it. */
    private static final int XML_SECURE = 1;
    /** libvirt's error callback, kept strongly reachable: JNA frees a callback whose Java object is collected. */
    private static final org.libvirt.jna.Libvirt.VirErrorCallback QUIET = (data, error) -> { };
    private static Thread eventLoop;

    private final String uri;
    private final Connect connect;
    private final List<LifecycleListener> listeners = new ArrayList<>();

    private LibvirtHost(String uri, Connect connect) {
        this.uri = uri;
        this.connect = connect;
    }

    /**
     * Connects to libvirt at {@code uri}, read-write, and makes sure libvirt's event loop runs in this JVM.
     *
     * @throws HypervisorException if libvirt is missing or refuses, with libvirt's reason
     */
    public static LibvirtHost connect(String uri) throws HypervisorException {
        try {
            Connect.setErrorCallback(QUIET);
            startEventLoop();
            return new LibvirtHost(uri, new Connect(uri, false));
        } catch (LibvirtException e) {
            throw new HypervisorException("libvirt " + uri + ": " + e.getMessage(), e);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new HypervisorException("libvirt's library libvirt.so.0 cannot be loaded (Debian package libvirt0): "
                    + e.getMessage(), e);
        }
    }

    private static synchronized void startEventLoop() throws LibvirtException {
        if (eventLoop != null) {
            return;
        }
        Library.initEventLoop();
        eventLoop = new Thread(() -> {
            try {
                Library.runEventLoop();
            } catch (LibvirtException e) {
                LOG.warn("libvirt's event loop stopped: {}", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "romulus-libvirt-events");
        eventLoop.setDaemon(true);
        eventLoop.start();
    }

    public String uri() {
        return uri;
    }

    /** libvirt's name for the hypervisor behind the connection ({@code Xen}, {@code TEST}). */
    public synchronized String hypervisorType() throws HypervisorException {
        try {
            return connect.getType();
        } catch (LibvirtException e) {
            throw failure("cannot read the hypervisor type", e);
        }
    }

    /** The running guest domains, by name; Domain-0 (id 0) is not one. */
    public synchronized List<LibvirtDomain> domains() throws HypervisorException {
        List<LibvirtDomain> out = new ArrayList<>();
        try {
            for (int id : connect.listDomains()) {
                if (id == 0) {
                    continue;
                }
                try {
                    out.add(describe(connect.domainLookupByID(id)));
                } catch (LibvirtException e) {
                    LOG.debug("domain {} went away while listing: {}", id, e.getMessage());
                }
            }
        } catch (LibvirtException e) {
            throw failure("cannot list domains", e);
        }
        out.sort(Comparator.comparing(LibvirtDomain::name));
        return out;
    }

    /**
     * The running domain named {@code name}.
     *
     * @throws HypervisorException if there is none, naming the domains there are
     */
    public synchronized LibvirtDomain domain(String name) throws HypervisorException {
        try {
            Domain d = lookup(name);
            if (d.isActive() != 1) {
                throw new HypervisorException("domain '" + name + "' is defined in libvirt " + uri
                        + " but not running; start it first");
            }
            return describe(d);
        } catch (LibvirtException e) {
            throw failure("cannot read domain '" + name + "'", e);
        }
    }

    /** Whether a domain of that name exists and runs. */
    public synchronized boolean running(String name) throws HypervisorException {
        try {
            return lookup(name).isActive() == 1;
        } catch (HypervisorException e) {
            return false;
        } catch (LibvirtException e) {
            throw failure("cannot read domain '" + name + "'", e);
        }
    }

    /** libvirt's description of the domain, secure parts included. */
    public synchronized DomainXml xml(String name) throws HypervisorException {
        try {
            return DomainXml.parse(lookup(name).getXMLDesc(XML_SECURE));
        } catch (LibvirtException e) {
            throw failure("cannot describe domain '" + name + "'", e);
        }
    }

    /**
     * Builds a running domain from a saved image ({@code virDomainRestore}): on a Xen host, libxl restores the
     * migration stream inside it.
     */
    public synchronized void restore(Path image) throws HypervisorException {
        try {
            connect.restore(image.toString());
        } catch (LibvirtException e) {
            throw failure("cannot restore " + image, e);
        }
    }

    /** Ends the domain at once ({@code virDomainDestroy}). */
    public synchronized void destroy(String name) throws HypervisorException {
        try {
            lookup(name).destroy();
        } catch (LibvirtException e) {
            throw failure("cannot destroy domain '" + name + "'", e);
        }
    }

    /**
     * Calls {@code listener} with the domain's name and the event ({@code STOPPED/DESTROYED}, {@code CRASHED/...},
     * {@code SUSPENDED/PAUSED}) for every lifecycle event of any domain, from libvirt's event thread.
     *
     * @return a handle that unregisters the listener
     */
    public synchronized AutoCloseable onLifecycle(BiConsumer<String, String> listener) throws HypervisorException {
        LifecycleListener l = (domain, event) -> {
            try {
                Object detail = event.getDetail();
                listener.accept(domain.getName(), event.getType() + "/" + detail);
            } catch (LibvirtException | RuntimeException e) {
                LOG.warn("a lifecycle event could not be delivered: {}", e.getMessage());
            }
            return 0;
        };
        try {
            connect.addLifecycleListener(l);
            listeners.add(l);
        } catch (LibvirtException e) {
            throw failure("cannot subscribe to lifecycle events", e);
        }
        return () -> remove(l);
    }

    private synchronized void remove(LifecycleListener l) {
        if (listeners.remove(l)) {
            try {
                connect.removeLifecycleListener(l);
            } catch (LibvirtException e) {
                LOG.debug("removing a lifecycle listener: {}", e.getMessage());
            }
        }
    }

    @Override
    public synchronized void close() {
        for (LifecycleListener l : new ArrayList<>(listeners)) {
            remove(l);
        }
        try {
            connect.close();
        } catch (LibvirtException e) {
            LOG.debug("closing libvirt {}: {}", uri, e.getMessage());
        }
    }

    private Domain lookup(String name) throws HypervisorException, LibvirtException {
        try {
            return connect.domainLookupByName(name);
        } catch (LibvirtException e) {
            if (e.getError() != null && e.getError().getCode() == org.libvirt.Error.ErrorNumber.VIR_ERR_NO_DOMAIN) {
                List<String> names = new ArrayList<>();
                for (LibvirtDomain d : domains()) {
                    names.add(d.name());
                }
                throw new HypervisorException("no domain named '" + name + "' in libvirt " + uri
                        + (names.isEmpty() ? " (no guest domain runs there)" : "; running: " + String.join(", ", names)));
            }
            throw e;
        }
    }

    private static LibvirtDomain describe(Domain d) throws LibvirtException {
        DomainInfo info = d.getInfo();
        return new LibvirtDomain(d.getName(), d.getID(), d.getUUIDString(), String.valueOf(info.state),
                info.memory, info.maxMem, d.getOSType(), info.nrVirtCpu);
    }

    private HypervisorException failure(String what, LibvirtException e) {
        return new HypervisorException("libvirt " + uri + ": " + what + ": " + e.getMessage(), e);
    }

    /**
     * A running domain as libvirt lists it.
     *
     * @param name         its name
     * @param id           its domain id (the Xen domid)
     * @param uuid         its UUID
     * @param state        libvirt's state ({@code VIR_DOMAIN_RUNNING}, {@code VIR_DOMAIN_PAUSED})
     * @param memoryKiB    its current memory
     * @param maxMemoryKiB its memory limit
     * @param osType       {@code hvm}, {@code xen}, {@code linux}, {@code xenpvh}
     * @param vcpus        its vCPU count
     */
    public record LibvirtDomain(String name, int id, String uuid, String state, long memoryKiB, long maxMemoryKiB,
                                String osType, int vcpus) {

        public boolean running() {
            return "VIR_DOMAIN_RUNNING".equals(state) || "VIR_DOMAIN_BLOCKED".equals(state);
        }
    }
}
