package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;

import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the engine reports ({@code romulus:status}, the MBeans): one line per protection and replica, the output
 * buffers of the primaries, and the names of the domains this node knows. It reads the role table without a lock.
 */
final class EngineStatus {

    private static final Logger LOG = LoggerFactory.getLogger(EngineStatus.class);

    private final HelperRegistry helpers;
    private final DomainRoles roles;

    EngineStatus(HelperRegistry helpers, DomainRoles roles) {
        this.helpers = helpers;
        this.roles = roles;
    }

    /** Every primary and replica here, by domain and role. */
    List<ProtectionStatus> status() {
        List<ProtectionStatus> out = new ArrayList<>();
        roles.primaries.values().forEach(p -> out.add(p.status()));
        roles.replicas.values().forEach(b -> out.add(b.status()));
        out.sort(Comparator.comparing(ProtectionStatus::domain).thenComparing(ProtectionStatus::role));
        return out;
    }

    /** The output buffer of every interface of every primary here. */
    List<OutputStatus> outputs() {
        List<OutputStatus> out = new ArrayList<>();
        roles.primaries.values().forEach(p -> out.addAll(p.outputs()));
        out.sort(Comparator.comparing(OutputStatus::domain).thenComparing(OutputStatus::interfaceName));
        return out;
    }

    /** The domains protected here, replicated here, or known to a binding here (for completion), sorted. */
    List<String> domainNames() {
        TreeSet<String> names = new TreeSet<>();
        roles.primaries.keySet().forEach(d -> names.add(d.toString()));
        roles.replicas.keySet().forEach(d -> names.add(d.toString()));
        for (Hypervisor h : helpers.hypervisors()) {
            try {
                h.domains().forEach(d -> names.add(d.id().toString()));
            } catch (HypervisorException | RuntimeException e) {
                LOG.debug("Listing domains of {} failed", h.binding(), e);
            }
        }
        return new ArrayList<>(names);
    }

    /** Number of domains this node is primary for and that are not stopped. */
    int protectedCount() {
        return (int) roles.primaries.values().stream().filter(p -> p.state() != ProtectionState.STOPPED)
                .count();
    }
}
