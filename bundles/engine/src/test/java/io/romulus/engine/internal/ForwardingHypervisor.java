package io.romulus.engine.internal;

import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

/** A binding as it is, for the tests' witnesses to override one method each. */
class ForwardingHypervisor implements Hypervisor {

    final Hypervisor binding;

    ForwardingHypervisor(Hypervisor binding) {
        this.binding = binding;
    }

    @Override
    public String binding() {
        return binding.binding();
    }

    @Override
    public Availability availability() {
        return binding.availability();
    }

    @Override
    public List<DomainInfo> domains() throws HypervisorException {
        return binding.domains();
    }

    @Override
    public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        return binding.open(id, options);
    }

    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
        return binding.createReplica(spec);
    }

    @Override
    public Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
        return binding.adopt(id);
    }

    @Override
    public Optional<Replica> adoptReplica(ReplicaSpec spec) throws HypervisorException {
        return binding.adoptReplica(spec);
    }
}
