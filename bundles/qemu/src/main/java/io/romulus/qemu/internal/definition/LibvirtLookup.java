package io.romulus.qemu.internal.definition;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import org.libvirt.Connect;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Looks a VM up by name in a libvirt ({@code qemu:///system} on a host where libvirt defines the user's VMs;
 * {@code test:///default} in tests) and returns its domain XML, for {@link LibvirtDomainXml} to translate. The
 * connection is read-only and closed again: Romulus only reads the definition, libvirt keeps no hold on the VM.
 * libvirt's own printing to stderr is silenced for the connection; its errors reach the caller in the exceptions.
 * The silencing is per connection ({@code virConnSetErrorFunc}), not libvirt's process-wide handler: libvirt never
 * keeps a pointer to this bundle's callback after the connection is closed, so a refreshed bundle leaves none behind.
 */
public final class LibvirtLookup {

    private static final Logger LOG = LoggerFactory.getLogger(LibvirtLookup.class);
    /** libvirt's error callback, kept strongly reachable while a connection uses it: JNA frees a collected one. */
    private static final org.libvirt.jna.Libvirt.VirErrorCallback QUIET = (data, error) -> { };

    private LibvirtLookup() {
    }

    /**
     * The XML of the domain named {@code name} ({@code virDomainGetXMLDesc} with no flags: a running domain's live
     * description, else its persistent one).
     *
     * @throws IllegalArgumentException if that libvirt has no such domain ({@code libvirt at URI has no domain NAME},
     *                                  with the names it has)
     * @throws IOException              if libvirt cannot be reached or its library not loaded
     *                                  ({@code cannot connect to URI: ...}), or it fails to describe the domain
     */
    public static String domainXml(String uri, String name) throws IOException {
        if (uri == null || uri.isBlank()) {
            throw new IllegalArgumentException("no libvirt URI given (for example qemu:///system)");
        }
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("no domain name given");
        }
        Connect connect = connect(uri);
        try {
            return connect.domainLookupByName(name).getXMLDesc(0);
        } catch (LibvirtException e) {
            if (e.getError() != null && e.getError().getCode() == ErrorNumber.VIR_ERR_NO_DOMAIN) {
                throw new IllegalArgumentException("libvirt at " + uri + " has no domain " + name + domains(connect),
                        e);
            }
            throw new IOException("libvirt at " + uri + " cannot describe domain " + name + ": " + e.getMessage(), e);
        } finally {
            try {
                connect.close();
            } catch (LibvirtException e) {
                LOG.debug("closing libvirt {}: {}", uri, e.getMessage());
            }
        }
    }

    private static Connect connect(String uri) throws IOException {
        try {
            Connect connect = new Connect(uri, true);
            connect.setConnectionErrorCallback(QUIET);
            return connect;
        } catch (LibvirtException e) {
            throw new IOException("cannot connect to " + uri + ": " + e.getMessage(), e);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new IOException("cannot connect to " + uri + ": libvirt's library libvirt.so.0 cannot be loaded"
                    + " (Debian package libvirt0): " + e.getMessage(), e);
        }
    }

    /** "; it has a, b" or "; it has no domain", or "" when libvirt cannot list them. */
    private static String domains(Connect connect) {
        try {
            TreeSet<String> names = new TreeSet<>(List.of(connect.listDefinedDomains()));
            List<String> running = new ArrayList<>();
            for (int id : connect.listDomains()) {
                try {
                    running.add(connect.domainLookupByID(id).getName());
                } catch (LibvirtException e) {
                    LOG.debug("domain {} went away while listing: {}", id, e.getMessage());
                }
            }
            names.addAll(running);
            return names.isEmpty() ? "; it has no domain" : "; it has " + String.join(", ", names);
        } catch (LibvirtException e) {
            LOG.debug("listing the domains: {}", e.getMessage());
            return "";
        }
    }
}
