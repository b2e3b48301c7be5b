package io.romulus.api.hypervisor;

import java.util.List;
import java.util.Map;
import java.util.Optional;

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

    /**
     * Adopts a domain whose protection goes on across a bundle update (ARCHITECTURE.md section 8): one that a
     * previous engine {@linkplain ProtectedDomain#detach() detached}, or that a previous version of this binding left
     * running when it was updated. The domain keeps running throughout and its dirty log is not restarted: the
     * first {@link ProtectedDomain#harvestDirty()} of the returned handle returns every page written since the last
     * harvest of the previous one, and {@link ProtectedDomain#startDirtyLog()} on it keeps what is logged.
     *
     * @return the domain, or empty when it does not run here or its dirty log did not survive (then only a full copy
     *         protects it again); the default adopts nothing
     * @since 1.3
     */
    default Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
        return Optional.empty();
    }

    /**
     * Adopts the replica of {@code spec.id()} that a previous engine {@linkplain Replica#detach() detached}, or that
     * a previous version of this binding kept when it was updated: at the epoch it last committed, ready for further
     * {@link Replica#applyCommitted(CommittedEpoch)} calls and for failover.
     *
     * @return the replica, or empty when this node holds none for the domain that matches {@code spec}; the default
     *         adopts nothing
     * @since 1.3
     */
    default Optional<Replica> adoptReplica(ReplicaSpec spec) throws HypervisorException {
        return Optional.empty();
    }

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
