package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The helpers the engine works with, tracked as their bundles come and go (OSGi services): hypervisor bindings by
 * name, output buffer providers and disk replicators by rank, the checkpoint transport, the failure detector and the
 * witness. It answers which helper, if any, serves a domain, a disk or an interface; what the engine's protections
 * and replicas do when a helper comes or goes is the engine's business ({@link Engine}). Every helper is held in a
 * concurrent map or an atomic reference, so lookups take no lock.
 */
final class HelperRegistry {

    private static final Logger LOG = LoggerFactory.getLogger(HelperRegistry.class);

    private final Map<String, Hypervisor> hypervisors = new ConcurrentHashMap<>();
    private final Ranking<OutputBufferProvider> outputProviders = new Ranking<>();
    private final Ranking<DiskReplicator> diskReplicators = new Ranking<>();
    private final AtomicReference<CheckpointTransport> transport = new AtomicReference<>();
    private final AtomicReference<FailureDetector> detector = new AtomicReference<>();
    /** Whether this node ever had a failure detector: then having none is news (it went away). */
    private final AtomicBoolean hadDetector = new AtomicBoolean();
    /** Whether this node, never given a failure detector, said so (once). */
    private final AtomicBoolean saidNoDetector = new AtomicBoolean();
    private final AtomicReference<Witness> witness = new AtomicReference<>();

    // ------------------------------------------------------------------------------------------------ hypervisors

    void addHypervisor(Hypervisor h) {
        hypervisors.put(h.binding(), h);
        Hypervisor.Availability a = h.availability();
        if (a.available()) {
            LOG.info("Hypervisor binding '{}' available{}", h.binding(), a.reason().equals("available") ? ""
                    : a.reason().replaceFirst("^available", ""));
        } else {
            LOG.info("Hypervisor binding '{}' registered but unavailable on this host: {}", h.binding(), a.reason());
        }
    }

    /** Returns whether {@code h} was the binding of its name (a newer version may have replaced it already). */
    boolean removeHypervisor(Hypervisor h) {
        if (!hypervisors.remove(h.binding(), h)) {
            return false;
        }
        LOG.info("Hypervisor binding '{}' went away", h.binding());
        return true;
    }

    /** The binding named {@code binding}, or null while none is installed. */
    Hypervisor hypervisor(String binding) {
        return hypervisors.get(binding);
    }

    Collection<Hypervisor> hypervisors() {
        return hypervisors.values();
    }

    /** The binding of {@code id}, ready to run it here; else why not. */
    Hypervisor usableHypervisor(DomainId id) {
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
        return hypervisor;
    }

    // ------------------------------------------------------------------------------------------------ output buffers

    /**
     * Adds a way to hold output. For each interface the engine takes the highest-ranked provider that supports it
     * (OSGi {@code service.ranking}; the first added wins a tie).
     */
    void addOutputBufferProvider(OutputBufferProvider p, int ranking) {
        outputProviders.add(p, ranking, "");
    }

    void removeOutputBufferProvider(OutputBufferProvider p) {
        outputProviders.remove(p);
    }

    /** Attaches the best output buffer for {@code nic} (adopting a hold left by a previous one). */
    PrimaryProtection.Output attachOutput(GuestInterface nic) throws OutputBufferException {
        List<String> tried = new ArrayList<>();
        for (Ranked<OutputBufferProvider> r : outputProviders.all()) {
            OutputBufferProvider p = r.service();
            if (p.supports(nic)) {
                return new PrimaryProtection.Output(nic, p, p.attach(nic));
            }
            tried.add(p.name());
        }
        throw new OutputBufferException("no output buffer can hold interface " + nic.name() + " (" + nic.kind()
                + ", " + nic.hostDevice() + "); installed: " + (tried.isEmpty() ? "none" : String.join(", ", tried))
                + ". Without one, output could leave before its checkpoint is acknowledged, so protection refuses to "
                + "start.");
    }

    /**
     * Attaches an output buffer to every interface of {@code domain}; when one cannot be held, {@code undo} lets go of
     * those attached so far (close, or detach to keep the kernel's hold) and the failure is thrown.
     */
    List<PrimaryProtection.Output> attachOutputs(ProtectedDomain domain, Consumer<OutputBuffer> undo)
            throws OutputBufferException {
        return attachOutputs(domain, undo, List.of());
    }

    /**
     * As {@link #attachOutputs(ProtectedDomain, Consumer)}, taking for each interface the buffer of {@code prepared}
     * (attached ahead, at a switchover's "prepare") that holds the same interface; those of {@code prepared} that the
     * domain does not have are closed, and on a failure those taken are closed too.
     */
    List<PrimaryProtection.Output> attachOutputs(ProtectedDomain domain, Consumer<OutputBuffer> undo,
            List<PrimaryProtection.Output> prepared) throws OutputBufferException {
        List<PrimaryProtection.Output> ahead = new ArrayList<>(prepared);
        List<PrimaryProtection.Output> outputs = new ArrayList<>();
        try {
            for (GuestInterface nic : domain.networkInterfaces()) {
                PrimaryProtection.Output same = ahead.stream().filter(o -> o.nic.equals(nic)).findFirst()
                        .orElse(null);
                if (same != null) {
                    ahead.remove(same);
                    outputs.add(same);
                } else {
                    outputs.add(attachOutput(nic));
                }
            }
        } catch (OutputBufferException | RuntimeException e) {
            outputs.forEach(o -> o.each(prepared.contains(o) ? OutputBuffer::close : undo));
            throw e;
        } finally {
            ahead.forEach(o -> o.each(OutputBuffer::close));
        }
        return outputs;
    }

    // ------------------------------------------------------------------------------------------------ disks

    /**
     * Adds a way to replicate disks of kind {@code kind} (the service property {@value DiskReplicator#KIND}). For
     * each disk the primary takes the highest-ranked replicator of the disk's kind that supports it; the backup the
     * highest-ranked of the announced kind. Protections already running keep theirs until their next stream.
     */
    void addDiskReplicator(DiskReplicator r, String kind, int ranking) {
        diskReplicators.add(r, ranking, kind);
        // registered is what is known here: whether it can take a disk on this host, it says per disk
        LOG.info("Disk replicator '{}' registered for disks of kind '{}'", r.name(), kind);
    }

    void removeDiskReplicator(DiskReplicator r) {
        if (diskReplicators.remove(r)) {
            LOG.info("Disk replicator '{}' went away", r.name());
        }
    }

    /** The replicator for {@code disk} on the primary, or null while none can take it. */
    DiskReplicator diskReplicator(GuestDisk disk) {
        for (Ranked<DiskReplicator> r : diskReplicators.all()) {
            if (r.kind().equals(disk.kind())) {
                try {
                    if (r.service().supports(disk)) {
                        return r.service();
                    }
                } catch (RuntimeException e) {
                    LOG.warn("Disk replicator '{}' failed to say whether it supports disk {}", r.service().name(),
                            disk.name(), e);
                }
            }
        }
        return null;
    }

    /** Why no disk replicator takes {@code disk}, naming what is installed. */
    String noDiskReplicator(GuestDisk disk) {
        List<String> installed = new ArrayList<>();
        for (Ranked<DiskReplicator> r : diskReplicators.all()) {
            installed.add(r.service().name() + " (kind " + r.kind() + (r.kind().equals(disk.kind())
                    ? ", does not support it)" : ")"));
        }
        return "no disk replicator can replicate disk " + disk.name() + " (kind " + disk.kind() + ", "
                + disk.source() + "); installed: " + (installed.isEmpty() ? "none" : String.join(", ", installed))
                + ". Without one the backup's disk would not match its memory after a failover, so protection "
                + "refuses to start.";
    }

    /** The replicator for a disk of kind {@code kind} on the backup, or null when none is installed. */
    DiskReplicator diskReplicatorOfKind(String kind) {
        for (Ranked<DiskReplicator> r : diskReplicators.all()) {
            if (r.kind().equals(kind)) {
                return r.service();
            }
        }
        return null;
    }

    /** The kinds of disk this node can replicate, sorted. */
    List<String> diskKinds() {
        return diskReplicators.all().stream().map(Ranked::kind).distinct().sorted().toList();
    }

    /** Throws unless every disk of {@code domain} has a replicator. */
    void checkDisks(ProtectedDomain domain) {
        for (GuestDisk disk : domain.disks()) {
            if (diskReplicator(disk) == null) {
                throw new IllegalStateException(noDiskReplicator(disk));
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ transport

    void setTransport(CheckpointTransport t) {
        transport.set(t);
        InetSocketAddress listen = t.listenAddress();
        if (listen == null) {
            LOG.info("Checkpoint transport registered; it does not listen, so this node takes no stream as a backup");
        } else {
            LOG.info("Checkpoint transport registered, listening at {}", listen);
        }
    }

    void unsetTransport(CheckpointTransport t) {
        transport.compareAndSet(t, null);
    }

    CheckpointTransport transport() {
        return transport.get();
    }

    // ------------------------------------------------------------------------------------------------ detector

    /** Sets the failure detector; {@code nodeId} is what the engine calls this node (they should agree). */
    void setDetector(FailureDetector d, String nodeId) {
        detector.set(d);
        hadDetector.set(true);
        LOG.info("Failure detector available (node {})", d.nodeId());
        if (!d.nodeId().equals(nodeId)) {
            LOG.warn("The failure detector calls this node '{}' but the engine calls it '{}': peers match heartbeats "
                    + "to streams by node id: set node.id in etc/io.romulus.node.cfg only (and restart Karaf), and "
                    + "remove the deprecated node.id from io.romulus.detector and io.romulus.engine",
                    d.nodeId(), nodeId);
        }
    }

    /** Returns whether {@code d} was the detector in use. */
    boolean unsetDetector(FailureDetector d) {
        return detector.compareAndSet(d, null);
    }

    FailureDetector detector() {
        return detector.get();
    }

    /**
     * Reports that {@code consequence} follows from this node having no failure detector. A node whose detector went
     * away (its bundle stopped) warns each time: it should have one. A node never given one was set up without (a
     * benchmark, a test, a node failed over by hand): it says so once, at INFO, and the rest at DEBUG.
     */
    void noDetector(String consequence) {
        if (hadDetector.get()) {
            LOG.warn("No failure detector on this node (it went away): {}", consequence);
        } else if (saidNoDetector.compareAndSet(false, true)) {
            LOG.info("No failure detector on this node (none was given to it): the backups of its domains get no "
                    + "heartbeats from it and the primaries of its replicas are not watched, so only romulus:failover "
                    + "activates a replica; first: {}", consequence);
        } else {
            LOG.debug("No failure detector on this node: {}", consequence);
        }
    }

    // ------------------------------------------------------------------------------------------------ witness

    void setWitness(Witness w) {
        witness.set(w);
        // whether it answers shows when it is asked (and in its own log): registered is what is known here
        LOG.info("Witness registered: {}", w.describe());
    }

    void unsetWitness(Witness w) {
        if (witness.compareAndSet(w, null)) {
            LOG.warn("The witness went away ({}); primaries hold output rather than run unprotected until it returns",
                    w.describe());
        }
    }

    Witness witness() {
        return witness.get();
    }

    /**
     * With a witness, the primary must hold the domain's lease before it runs it protected: otherwise another node
     * may run it (it was taken over), and protecting a second copy would be split brain. Null without a witness.
     */
    Witness.Lease acquireLease(DomainId id, String nodeId) throws WitnessException {
        Witness w = witness.get();
        if (w == null) {
            return null;
        }
        Optional<Witness.Lease> lease = w.tryAcquire(id.toString(), nodeId);
        if (lease.isEmpty()) {
            throw new IllegalStateException("the witness (" + w.describe() + ") says "
                    + w.holder(id.toString()).orElse("another node") + " holds the lease of " + id
                    + ": it runs there, so it is not protected from here");
        }
        return lease.get();
    }

    // ------------------------------------------------------------------------------------------------ ranking

    /** A service with its OSGi {@code service.ranking}, and the kind it serves (disk replicators). */
    private record Ranked<T>(T service, int ranking, String kind) {
    }

    /**
     * Services of one type, highest ranking first (the first added wins a tie). The list is replaced whole on each
     * change, so a lookup never sees it half sorted.
     */
    private static final class Ranking<T> {

        private final AtomicReference<List<Ranked<T>>> ranked = new AtomicReference<>(List.of());

        void add(T service, int ranking, String kind) {
            ranked.updateAndGet(list -> {
                List<Ranked<T>> sorted = new ArrayList<>(list);
                sorted.add(new Ranked<>(service, ranking, kind));
                sorted.sort(Comparator.comparingInt((Ranked<T> r) -> r.ranking()).reversed());
                return List.copyOf(sorted);
            });
        }

        /** Returns whether {@code service} was there. */
        boolean remove(T service) {
            List<Ranked<T>> before = ranked.getAndUpdate(list -> list.stream()
                    .filter(r -> r.service() != service).toList());
            return before.stream().anyMatch(r -> r.service() == service);
        }

        List<Ranked<T>> all() {
            return ranked.get();
        }
    }
}
