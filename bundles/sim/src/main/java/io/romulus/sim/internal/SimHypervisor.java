package io.romulus.sim.internal;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
 *
 * <p>Hand-over (ARCHITECTURE.md section 8): a synthetic domain, a replica and a NIC's output hold belong to this
 * binding instance, not to the engine, so an engine that {@linkplain ProtectedDomain#detach() detaches} them hands
 * them to the next engine through {@link #adopt}, {@link #adoptReplica} and {@link #attach}. They do not survive an
 * update of the sim bundle itself: their memory is off-heap in the old revision, which {@link #deactivate() stops}
 * them all, so a new revision adopts nothing (empty) and the engine copies the domain whole again.
 */
@Component(service = {Hypervisor.class, OutputBufferProvider.class}, property = Hypervisor.BINDING + "=sim")
public final class SimHypervisor implements Hypervisor, OutputBufferProvider {

    public static final String BINDING = "sim";
    private static final Logger LOG = LoggerFactory.getLogger(SimHypervisor.class);

    private final Map<String, SimGuest> guests = new ConcurrentHashMap<>();
    /** Replicas an engine detached, by domain name; guarded by this. */
    private final Map<String, SimReplica> detachedReplicas = new HashMap<>();
    /** NICs of domains a switchover prepared to activate here, by host device; guarded by this. */
    private final Map<String, SimNic> preparedNics = new HashMap<>();
    private final SimWire wire = new SimWire(200_000);

    /** Stops every synthetic domain and drops every detached replica: nothing outlives the binding. */
    @Deactivate
    public void deactivate() {
        new ArrayList<>(guests.values()).forEach(g -> {
            g.stop();
            forget(g);
        });
        List<SimReplica> dropped;
        synchronized (this) {
            dropped = new ArrayList<>(detachedReplicas.values());
            detachedReplicas.clear();
        }
        dropped.forEach(SimReplica::drop);
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
        return guests.values().stream().map(SimGuest::info).toList();
    }

    private static void checkBinding(DomainId id) {
        if (!BINDING.equals(id.binding())) {
            throw new IllegalArgumentException(id + " is not a synthetic domain (sim:NAME)");
        }
    }

    /**
     * Creates the synthetic domain, or hands out one that runs already and no engine holds: one activated from a
     * replica, or one a previous engine detached (then with its dirty log started afresh by
     * {@link ProtectedDomain#startDirtyLog()}; {@link #adopt} keeps it).
     */
    @Override
    public synchronized ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
        checkBinding(id);
        SimGuest existing = guests.get(id.name());
        if (existing != null) {
            SimDomain h = existing.handle;
            if (h.isDetached()) {
                h = new SimDomain(this, existing, false);
                existing.handle = h;
            } else if (h.opened) {
                throw new HypervisorException(id + " is already open");
            }
            h.opened = true;
            return h;
        }
        SimOptions parsed = SimOptions.parse(options);
        SimGuest g = new SimGuest(id, parsed, new SimMemory(parsed.memoryBytes()), null, wire);
        SimDomain d = new SimDomain(this, g, false);
        d.opened = true;
        g.handle = d;
        guests.put(id.name(), g);
        LOG.info("Created {}: {}", id, g.description());
        return d;
    }

    /**
     * Hands a detached synthetic domain to a new handle: the same memory, workload and dirty bitmap, so the first
     * harvest returns every page written since the detached handle's last one. Empty when no such domain runs in
     * this binding instance (never across an update of the sim bundle) or its dirty log was stopped.
     *
     * @throws HypervisorException when a handle that was not detached holds the domain
     */
    @Override
    public synchronized Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
        checkBinding(id);
        SimGuest g = guests.get(id.name());
        if (g == null || g.isStopped()) {
            return Optional.empty();
        }
        if (!g.handle.isDetached()) {
            throw new HypervisorException(id + " is held by a handle that was not detached");
        }
        if (!g.logging()) {
            LOG.info("{} runs, but its dirty log was stopped: it cannot be adopted", id);
            return Optional.empty();
        }
        SimDomain d = new SimDomain(this, g, true);
        d.opened = true;
        g.handle = d;
        LOG.info("Adopted {}: its dirty log kept what was written meanwhile", id);
        return Optional.of(d);
    }

    synchronized void detach(SimDomain handle) {
        SimGuest g = handle.guest();
        if (handle.isDetached() || g.isStopped()) {
            return;
        }
        g.resume();
        handle.markDetached();
        LOG.info("Detached {}: it runs on and its dirty log keeps logging", g.id());
    }

    /** Creates an empty replica; a replica of the same domain that an engine detached is dropped. */
    @Override
    public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
        if (spec.pageSize() != SimMemory.PAGE_SIZE) {
            throw new HypervisorException("synthetic domains have " + SimMemory.PAGE_SIZE + "-byte pages, not "
                    + spec.pageSize());
        }
        SimOptions.parse(spec.options());
        SimReplica stale;
        synchronized (this) {
            stale = detachedReplicas.remove(spec.id().name());
        }
        if (stale != null) {
            stale.drop();
        }
        return new SimReplica(this, spec);
    }

    /**
     * Hands a detached replica to a new handle, at its committed epoch with its memory and device state. Empty when
     * none of {@code spec.id()} was detached in this binding instance, or when the detached one was made for
     * another spec (then it is dropped).
     */
    @Override
    public Optional<Replica> adoptReplica(ReplicaSpec spec) {
        SimReplica r;
        synchronized (this) {
            r = detachedReplicas.remove(spec.id().name());
        }
        if (r == null) {
            return Optional.empty();
        }
        if (!r.spec().equals(spec)) {
            LOG.info("The detached replica of {} was made for {}, not {}: dropped", spec.id(), r.spec(), spec);
            r.drop();
            return Optional.empty();
        }
        SimReplica adopted = r.handOver();
        LOG.info("Adopted the replica of {} at epoch {}", spec.id(), adopted.committedEpoch());
        return Optional.of(adopted);
    }

    synchronized void detached(SimReplica r) {
        SimReplica previous = detachedReplicas.put(r.spec().id().name(), r);
        if (previous != null && previous != r) {
            previous.drop();
        }
    }

    /**
     * Starts the domain of replica {@code spec} from its memory and device state, with the NIC a switchover's
     * preparation made for it ({@code prepared}, or null for a new one).
     */
    synchronized SimDomain activate(ReplicaSpec spec, SimMemory memory, byte[] deviceState, boolean paused,
            SimNic prepared) throws HypervisorException {
        if (prepared != null) {
            preparedNics.remove(prepared.description().hostDevice(), prepared);
        }
        SimDomain d = start(spec.id(), SimOptions.parse(spec.options()), memory, deviceState, paused, prepared);
        LOG.info("Activated {} from its replica{}: {}", spec.id(), paused ? " (paused)" : "", d.description());
        return d;
    }

    /**
     * Switchover: the guest of {@code d} stops for good and its memory and device state, at {@code epoch}, become a
     * replica of this binding.
     */
    synchronized SimReplica stopAsReplica(SimDomain d, ReplicaSpec spec, long epoch) {
        SimGuest g = d.guest();
        byte[] state = g.captureDeviceState();
        g.stop();
        forget(g);
        LOG.info("{} stopped at checkpoint {}; its memory is kept as a replica", spec.id(), epoch);
        return new SimReplica(this, spec, g.memory(), state, epoch);
    }

    /** Scale-out: starts {@code clone} with a copy of the memory and device state of a replica of {@code of}. */
    synchronized SimDomain fork(DomainId clone, DomainId of, long epoch, SimOptions options, SimMemory memory,
            byte[] deviceState) throws HypervisorException {
        SimDomain d = start(clone, options, memory, deviceState, false, null);
        LOG.info("Started {}, a clone of {} at epoch {}: {}", clone, of, epoch, d.description());
        return d;
    }

    /**
     * Runs a domain resumed from a replica's memory and device state; like one activated from its replica, an engine
     * takes hold of it with {@link #open} (or is handed it).
     */
    private SimDomain start(DomainId id, SimOptions options, SimMemory memory, byte[] deviceState, boolean paused,
            SimNic prepared) throws HypervisorException {
        if (guests.containsKey(id.name())) {
            throw new HypervisorException(id + " already runs on this node");
        }
        SimGuest g = new SimGuest(id, options, memory, deviceState, prepared != null ? prepared
                : new SimNic(id.name(), wire), paused);
        SimDomain d = new SimDomain(this, g, false);
        g.handle = d;
        guests.put(id.name(), g);
        return d;
    }

    /**
     * Switchover, at "prepare": the NIC the domain of replica {@code id} will have once activated, made now so that
     * its output can be held before the domain runs ({@link #attach}).
     */
    synchronized SimNic prepareNic(DomainId id) {
        SimNic nic = new SimNic(id.name(), wire);
        preparedNics.put(nic.description().hostDevice(), nic);
        return nic;
    }

    /** The preparation of {@code nic} was taken back: it will never emit. */
    synchronized void unprepareNic(SimNic nic) {
        preparedNics.remove(nic.description().hostDevice(), nic);
    }

    void forget(SimGuest g) {
        guests.remove(g.id().name(), g);
    }

    /** The newest handle on a running synthetic domain by name (detached or not), or {@code null}. */
    public synchronized SimDomain domain(String name) {
        SimGuest g = guests.get(name);
        return g == null ? null : g.handle;
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

    /**
     * Holds a synthetic NIC's output; when an engine detached the buffer that holds it, adopts that hold: what it
     * holds, sealed or not, belongs to the next epoch sealed, and nothing passed meanwhile.
     */
    @Override
    public synchronized OutputBuffer attach(GuestInterface nic) throws OutputBufferException {
        SimNic found = guests.values().stream().map(SimGuest::nic)
                .filter(x -> x.description().hostDevice().equals(nic.hostDevice())).findFirst()
                .orElse(preparedNics.get(nic.hostDevice()));
        if (found == null) {
            throw new OutputBufferException("no synthetic NIC " + nic.hostDevice());
        }
        SimOutputBuffer held = found.buffer();
        if (held == null) {
            return new SimOutputBuffer(found);
        }
        if (!held.isDetached()) {
            throw new OutputBufferException("the output of " + nic.hostDevice() + " is already held");
        }
        LOG.info("Adopted the output hold of {}", nic.hostDevice());
        return held.handOver();
    }
}
