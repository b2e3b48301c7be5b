package io.romulus.api.hypervisor;

import java.util.List;
import java.util.Map;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * One hypervisor binding ({@code sim}, {@code qemu}, {@code xen}), registered as an OSGi service with the
 * service property {@value #BINDING} set to {@link #binding()}. The engine never knows which binding it drives.
 */
@ConsumerType
public interface Hypervisor {

    /** Service property naming the binding. */
    String BINDING = "romulus.binding";

    /** The binding name, the prefix of domain names ({@code sim} in {@code sim:demo}). */
    String binding();

    /** Whether this host can run the binding at all, with the reason when it cannot. */
    Availability availability();

    /** The domains this binding can see on this host. */
    List<DomainInfo> domains() throws HypervisorException;

    /**
     * Opens a domain for protection on the primary. A binding that creates its domains itself (the synthetic
     * domain, the QEMU demo guest) creates it here from {@code options}; unknown options are refused.
     *
     * @param id      the domain, whose binding is this one
     * @param options binding-specific options, for example {@code memory=256M}
     */
    ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException;

    /**
     * Creates an empty replica on the backup for a domain described by the primary's HELLO.
     */
    Replica createReplica(ReplicaSpec spec) throws HypervisorException;

    /** Whether a binding can run here. */
    record Availability(boolean available, String reason) {

        public static Availability yes() {
            return new Availability(true, "available");
        }

        public static Availability no(String reason) {
            return new Availability(false, reason);
        }
    }
}
