package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.definition.LibvirtDomainXml;
import io.romulus.qemu.internal.definition.LibvirtLookup;
import io.romulus.qemu.internal.vm.VmDefinition;

/**
 * What {@code romulus:protect qemu:NAME -o ...} asks this binding to start, resolved into a machine:
 * <ul>
 * <li>{@code -o xml=FILE}: a libvirt domain XML on this host (e.g. {@code virsh dumpxml VM > FILE});</li>
 * <li>{@code -o libvirt=DOMAIN}: the domain XML libvirt has for DOMAIN at {@code libvirt.uri};</li>
 * <li>the VM's own keys ({@code disk.0.file=...}, {@code nic.0.mac=...}, {@code kernel=...}, see
 *     {@link VmDefinition}), alone or after either of the above, whose values they override;</li>
 * <li>otherwise the demo guest's options ({@link DemoGuest}).</li>
 * </ul>
 * Whatever a domain XML has that the binding cannot honour is refused, naming the element; what it has that does not
 * change the machine (addresses, a display, ...) comes back as notes, which the binding logs.
 */
final class GuestDefinitions {

    static final String XML = "xml";
    static final String LIBVIRT = "libvirt";

    private final QemuSettings settings;

    GuestDefinitions(QemuSettings settings) {
        this.settings = settings;
    }

    /**
     * The machine asked for: exactly one of {@code vm} and {@code demo} is set.
     *
     * @param notes what a domain XML had that does not change the machine, for the log
     */
    record Resolved(VmDefinition vm, DemoGuest demo, List<String> notes) {
    }

    Resolved resolve(DomainId id, Map<String, String> options) throws HypervisorException {
        if (options.containsKey(XML) && options.containsKey(LIBVIRT)) {
            throw new IllegalArgumentException("give a VM's definition as xml=FILE or as libvirt=DOMAIN, not both");
        }
        Map<String, String> rest = new LinkedHashMap<>(options);
        String file = rest.remove(XML);
        String domain = rest.remove(LIBVIRT);
        if (file == null && domain == null) {
            return VmDefinition.isVmMap(options) ? new Resolved(VmDefinition.parse(options), null, List.of())
                    : new Resolved(null, DemoGuest.parse(options), List.of());
        }
        String from;
        LibvirtDomainXml.Definition d;
        if (file != null) {
            Path path = Path.of(file.trim());
            from = path.toString();
            try {
                d = LibvirtDomainXml.read(path); // names the line and column of a malformed file
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage().contains(from) ? e.getMessage()
                        : from + ": " + e.getMessage(), e);
            }
        } else {
            from = "libvirt domain " + domain + " at " + settings.libvirtUri();
            String xml;
            try {
                xml = LibvirtLookup.domainXml(settings.libvirtUri(), domain.trim());
            } catch (IOException e) {
                throw new HypervisorException(e.getMessage(), e);
            }
            try {
                d = LibvirtDomainXml.parse(xml);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(from + ": " + e.getMessage(), e);
            }
        }
        List<String> notes = new ArrayList<>();
        d.notes().forEach(n -> notes.add(from + ": " + n));
        if (!d.name().equals(id.name())) {
            notes.add(from + " names the VM '" + d.name() + "'; Romulus protects it as " + id);
        }
        Map<String, String> merged = new LinkedHashMap<>(d.options());
        merged.putAll(rest); // -o options override what the XML says
        try {
            return new Resolved(VmDefinition.parse(merged), null, notes);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(from + ": " + e.getMessage(), e);
        }
    }
}
