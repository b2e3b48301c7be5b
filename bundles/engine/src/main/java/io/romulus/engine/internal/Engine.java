package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The replication engine of one node, without OSGi: primary protections (epoch loops) and backup replicas
 * (committers). Its helpers (hypervisor bindings, the transport, output buffers) come and go at run time, as bundles
 * are updated; while one is missing, protections keep their state and wait (output stays held, invariant I1).
 */
public final class Engine implements ReplicationEngine, ReplicaAcceptor {

    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);

    private volatile EngineSettings settings;
    private final Map<String, Hypervisor> hypervisors = new ConcurrentHashMap<>();
    private final List<Ranked<OutputBufferProvider>> outputProviders = new CopyOnWriteArrayList<>();
    private final AtomicReference<CheckpointTransport> transport = new AtomicReference<>();
    private final Map<DomainId, PrimaryProtection> primaries = new ConcurrentHashMap<>();
    private final Map<DomainId, BackupReplica> backups = new ConcurrentHashMap<>();
    private final Map<DomainId, ProtectedDomain> activated = new ConcurrentHashMap<>();

    public Engine(EngineSettings settings) {
        this.settings = settings;
    }

    public EngineSettings settings() {
        return settings;
    }

    /** New settings apply to new protections; running ones keep their interval. */
    public void update(EngineSettings newSettings) {
        this.settings = newSettings;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    public void addHypervisor(Hypervisor h) {
        hypervisors.put(h.binding(), h);
        LOG.info("Hypervisor binding '{}' available ({})", h.binding(), h.availability().reason());
    }

    public void removeHypervisor(Hypervisor h) {
        hypervisors.remove(h.binding(), h);
        LOG.info("Hypervisor binding '{}' went away", h.binding());
    }

    /**
     * Adds a way to hold output. For each interface the engine takes the highest-ranked provider that supports it
     * (OSGi {@code service.ranking}; the first added wins a tie).
     */
    public void addOutputBufferProvider(OutputBufferProvider p, int ranking) {
        synchronized (outputProviders) {
            List<Ranked<OutputBufferProvider>> sorted = new ArrayList<>(outputProviders);
            sorted.add(new Ranked<>(p, ranking));
            sorted.sort(Comparator.comparingInt((Ranked<OutputBufferProvider> r) -> r.ranking()).reversed());
            outputProviders.clear();
            outputProviders.addAll(sorted);
        }
    }

    public void removeOutputBufferProvider(OutputBufferProvider p) {
        outputProviders.removeIf(r -> r.service() == p);
    }

    private record Ranked<T>(T service, int ranking) {
    }

    public void setTransport(CheckpointTransport t) {
        transport.set(t);
        t.setAcceptor(this);
        LOG.info("Checkpoint transport available, listening at {}", t.listenAddress());
    }

    public void unsetTransport(CheckpointTransport t) {
        transport.compareAndSet(t, null);
    }

    // ------------------------------------------------------------------------------------------------ primary

    @Override
    public ProtectionStatus protect(ProtectRequest request) throws Exception {
        DomainId id = request.domain();
        EngineSettings s = settings;
        int interval = request.intervalMs() == 0 ? s.intervalMs() : s.checkInterval(request.intervalMs());
        Hypervisor hypervisor = hypervisors.get(id.binding());
        if (hypervisor == null) {
            throw new IllegalArgumentException("no hypervisor binding '" + id.binding() + "' is installed on this node"
                    + " (installed: " + String.join(", ", new TreeSet<>(hypervisors.keySet())) + ")");
        }
        Hypervisor.Availability availability = hypervisor.availability();
        if (!availability.available()) {
            throw new IllegalStateException("the '" + id.binding() + "' binding cannot run here: "
                    + availability.reason());
        }
        if (transport.get() == null) {
            throw new IllegalStateException("no checkpoint transport is running on this node");
        }
        synchronized (primaries) {
            PrimaryProtection existing = primaries.get(id);
            if (existing != null) {
                throw new IllegalStateException(id + " is already protected (" + existing.status().state() + ")");
            }
            ProtectedDomain domain = hypervisor.open(id, request.options());
            List<OutputBuffer> outputs = new ArrayList<>();
            try {
                for (GuestInterface nic : domain.networkInterfaces()) {
                    outputs.add(attachOutput(nic));
                }
            } catch (OutputBufferException | RuntimeException e) {
                outputs.forEach(OutputBuffer::close);
                domain.close();
                throw e;
            }
            PrimaryProtection p = new PrimaryProtection(id, request.peer(), interval, request.options(),
                    request.verify(), s, domain, outputs, transport::get);
            primaries.put(id, p);
            LOG.info("Protecting {} with backup {} every {} ms", id, PrimaryProtection.hostPort(request.peer()),
                    interval);
            p.start();
            return p.status();
        }
    }

    private OutputBuffer attachOutput(GuestInterface nic) throws OutputBufferException {
        List<String> tried = new ArrayList<>();
        for (Ranked<OutputBufferProvider> r : outputProviders) {
            OutputBufferProvider p = r.service();
            if (p.supports(nic)) {
                return p.attach(nic);
            }
            tried.add(p.name());
        }
        throw new OutputBufferException("no output buffer can hold interface " + nic.name() + " (" + nic.kind()
                + ", " + nic.hostDevice() + "); installed: " + (tried.isEmpty() ? "none" : String.join(", ", tried))
                + ". Without one, output could leave before its checkpoint is acknowledged, so protection refuses to start.");
    }

    @Override
    public void unprotect(DomainId domain) throws Exception {
        PrimaryProtection p = primaries.get(domain);
        if (p == null) {
            BackupReplica b = backups.remove(domain);
            ProtectedDomain running = activated.remove(domain);
            if (running != null) {
                running.close();
                LOG.info("Stopped the activated {}", domain);
                return;
            }
            if (b != null) {
                b.close();
                LOG.info("Dropped the replica of {}", domain);
                return;
            }
            throw new IllegalArgumentException(domain + " is not protected on this node");
        }
        p.stop();
        primaries.remove(domain, p);
    }

    @Override
    public void setInterval(DomainId domain, int intervalMs) {
        PrimaryProtection p = primaries.get(domain);
        if (p == null) {
            throw new IllegalArgumentException(domain + " is not protected by this node as primary");
        }
        p.setInterval(settings.checkInterval(intervalMs));
        LOG.info("Epoch interval of {} set to {} ms", domain, intervalMs);
    }

    @Override
    public List<EpochStats> epochs(DomainId domain, int limit) {
        PrimaryProtection p = primaries.get(domain);
        if (p == null) {
            throw new IllegalArgumentException(domain + " is not protected by this node as primary");
        }
        return p.epochs(Math.max(1, limit));
    }

    // ------------------------------------------------------------------------------------------------ backup

    @Override
    public Accepted accept(Hello hello) throws CheckpointException {
        DomainId id;
        try {
            id = DomainId.parse(hello.domain());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException("bad domain in HELLO: " + e.getMessage());
        }
        if (primaries.containsKey(id) && !hello.nodeId().equals(settings.nodeId())) {
            throw new CheckpointException(id + " runs as primary on this node; refusing to become its backup");
        }
        Hypervisor hypervisor = hypervisors.get(hello.binding());
        if (hypervisor == null) {
            throw new CheckpointException("this node has no '" + hello.binding() + "' hypervisor binding");
        }
        Replica replica;
        try {
            replica = hypervisor.createReplica(new ReplicaSpec(id, hello.memoryBytes(), hello.pageSize(),
                    hello.options()));
        } catch (HypervisorException | IllegalArgumentException e) {
            throw new CheckpointException("cannot build a replica of " + id + ": " + e.getMessage(), e);
        }
        BackupReplica backup = backups.computeIfAbsent(id, k -> new BackupReplica(k, this::dropBackup));
        long previous = backup.committedEpoch();
        var sink = backup.newStream(hello.nodeId(), replica);
        LOG.info("Receiving checkpoints of {} from {} ({} MiB)", id, hello.nodeId(), hello.memoryBytes() >> 20);
        return new Accepted(sink, new HelloReply(settings.nodeId(), previous));
    }

    private void dropBackup(BackupReplica b) {
        if (backups.remove(b.id(), b)) {
            b.close();
        }
    }

    @Override
    public ProtectionStatus failover(DomainId domain) throws Exception {
        BackupReplica b = backups.get(domain);
        if (b == null) {
            throw new IllegalArgumentException("this node holds no replica of " + domain);
        }
        ProtectedDomain running = b.activate();
        activated.put(domain, running);
        return b.status();
    }

    // ------------------------------------------------------------------------------------------------ status

    @Override
    public List<ProtectionStatus> status() {
        List<ProtectionStatus> out = new ArrayList<>();
        primaries.values().forEach(p -> out.add(p.status()));
        backups.values().forEach(b -> out.add(b.status()));
        out.sort(Comparator.comparing(ProtectionStatus::domain).thenComparing(ProtectionStatus::role));
        return out;
    }

    @Override
    public List<OutputStatus> outputs() {
        List<OutputStatus> out = new ArrayList<>();
        primaries.values().forEach(p -> out.addAll(p.outputs()));
        out.sort(Comparator.comparing(OutputStatus::domain).thenComparing(OutputStatus::interfaceName));
        return out;
    }

    @Override
    public List<String> domainNames() {
        TreeSet<String> names = new TreeSet<>();
        primaries.keySet().forEach(d -> names.add(d.toString()));
        backups.keySet().forEach(d -> names.add(d.toString()));
        for (Hypervisor h : hypervisors.values()) {
            try {
                h.domains().forEach(d -> names.add(d.id().toString()));
            } catch (HypervisorException | RuntimeException e) {
                LOG.debug("Listing domains of {} failed", h.binding(), e);
            }
        }
        return new ArrayList<>(names);
    }

    /** Number of domains this node is primary for and that are not stopped. */
    public int protectedCount() {
        return (int) primaries.values().stream().filter(p -> p.status().state() != ProtectionState.STOPPED).count();
    }

    /** Stops every protection and drops every replica (the engine is going away). */
    public void shutdown() {
        for (PrimaryProtection p : primaries.values()) {
            try {
                p.stop();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        primaries.clear();
        backups.values().forEach(BackupReplica::close);
        backups.clear();
        activated.values().forEach(ProtectedDomain::close);
        activated.clear();
    }
}
