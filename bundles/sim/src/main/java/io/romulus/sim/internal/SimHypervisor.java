package io.romulus.sim.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code sim} binding: synthetic domains, created on {@link #open}, for unit tests, itests and benchmarks. Its
 * synthetic NICs' output commit is part of the binding ({@link OutputBufferProvider} {@code sim}). Usable without
 * OSGi: {@code new SimHypervisor()}.
 */
@Component(service = {Hypervisor.class, OutputBufferProvider.class}, property = Hypervisor.BINDING + "=sim")
public final class SimHypervisor implements Hypervisor, OutputBufferProvider {

    public static final String BINDING = "sim";
    private static final Logger LOG = LoggerFactory.getLogger(SimHypervisor.class);

    private final Map<String, SimDomain> domains = new ConcurrentHashMap<>();
    private final SimWire wire = new SimWire(200_000);

    @Deactivate
    public void deactivate() {
        new ArrayList<>(domains.values()).forEach(SimDomain::close);
    }

    @Override
    public String binding() {
        return BINDING;
    }

    @Override
    public Availability availability() {
        return Availability.yes();
    }

    @Override
    public List<DomainInfo> domains() {
        return domains.values().stream().map(SimDomain::info).toList();
    }

    @Override
    public synchronized ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        if (!BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a synthetic domain (sim:NAME)");
        }
        SimDomain existing = domains.get(id.name());
        if (existing != null) {
            if (existing.opened) {
                throw new HypervisorException(id + " is already open");
            }
            existing.opened = true;
            return existing;
        }
        SimOptions parsed = SimOptions.parse(options);
        SimDomain d = new SimDomain(this, id, parsed, new SimMemory(parsed.memoryBytes()), null, wire);
        d.opened = true;
        domains.put(id.name(), d);
        LOG.info("Created {}: {}", id, d.description());
        return d;
    }

    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
        if (spec.pageSize() != SimMemory.PAGE_SIZE) {
            throw new HypervisorException("synthetic domains have " + SimMemory.PAGE_SIZE + "-byte pages, not "
                    + spec.pageSize());
        }
        SimOptions.parse(spec.options());
        return new SimReplica(this, spec);
    }

    synchronized SimDomain activate(ReplicaSpec spec, SimMemory memory, byte[] deviceState)
            throws HypervisorException {
        if (domains.containsKey(spec.id().name())) {
            throw new HypervisorException(spec.id() + " already runs on this node");
        }
        SimOptions options = SimOptions.parse(spec.options());
        SimDomain d = new SimDomain(this, spec.id(), options, memory, deviceState, wire);
        domains.put(spec.id().name(), d);
        LOG.info("Activated {} from its replica: {}", spec.id(), d.description());
        return d;
    }

    void forget(SimDomain d) {
        domains.remove(d.id().name(), d);
    }

    /** A running synthetic domain by name, or {@code null}. */
    public SimDomain domain(String name) {
        return domains.get(name);
    }

    /** Where released packets of all synthetic NICs land. */
    public SimWire wire() {
        return wire;
    }

    // ------------------------------------------------------------------------------------------------ output commit

    @Override
    public String name() {
        return BINDING;
    }

    @Override
    public boolean supports(GuestInterface nic) {
        return BINDING.equals(nic.kind());
    }

    @Override
    public OutputBuffer attach(GuestInterface nic) throws OutputBufferException {
        SimDomain d = domains.values().stream()
                .filter(x -> x.nic().description().hostDevice().equals(nic.hostDevice())).findFirst().orElse(null);
        if (d == null) {
            throw new OutputBufferException("no synthetic NIC " + nic.hostDevice());
        }
        if (d.nic().attached()) {
            throw new OutputBufferException("the output of " + nic.hostDevice() + " is already held");
        }
        return new SimOutputBuffer(d.nic());
    }
}
