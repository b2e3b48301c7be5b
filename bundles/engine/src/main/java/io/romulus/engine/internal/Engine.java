package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
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
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;
import io.romulus.api.transport.ReplicaSink;
import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The replication engine of one node, without OSGi: primary protections (epoch loops) and backup replicas
 * (committers). Its helpers (hypervisor bindings, the transport, output buffers) come and go at run time, as bundles
 * are updated; while one is missing, protections keep their state and wait (output stays held, invariant I1).
 */
public final class Engine implements ReplicationEngine, ReplicaAcceptor, PrimaryProtection.Node,
        FailoverCoordinator.Engine {

    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);

    private volatile EngineSettings settings;
    private final Map<String, Hypervisor> hypervisors = new ConcurrentHashMap<>();
    private final List<Ranked<OutputBufferProvider>> outputProviders = new CopyOnWriteArrayList<>();
    private final List<Ranked<DiskReplicator>> diskReplicators = new CopyOnWriteArrayList<>();
    private final AtomicReference<CheckpointTransport> transport = new AtomicReference<>();
    private final Map<DomainId, PrimaryProtection> primaries = new ConcurrentHashMap<>();
    private final Map<DomainId, BackupReplica> backups = new ConcurrentHashMap<>();
    private final Map<DomainId, Activated> activated = new ConcurrentHashMap<>();
    private final AtomicReference<FailureDetector> detector = new AtomicReference<>();
    private final AtomicReference<Witness> witness = new AtomicReference<>();
    private final Alarms alarms = new Alarms();
    private final FailoverCoordinator failovers = new FailoverCoordinator(this);

    /** A replica this node activated: the running domain, and the witness's lease that came with it. */
    private record Activated(ProtectedDomain domain, Witness.Lease lease) {

        void close() {
            domain.close();
            if (lease != null) {
                lease.close();
            }
        }
    }

    public Engine(EngineSettings settings) {
        this.settings = settings;
    }

    @Override
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
        Hypervisor.Availability a = h.availability();
        if (a.available()) {
            LOG.info("Hypervisor binding '{}' available{}", h.binding(), a.reason().equals("available") ? ""
                    : a.reason().replaceFirst("^available", ""));
        } else {
            LOG.info("Hypervisor binding '{}' registered but unavailable on this host: {}", h.binding(), a.reason());
        }
        // a new version of a binding adopts what the previous one left running (ARCHITECTURE.md section 8)
        for (PrimaryProtection p : primaries.values()) {
            if (p.binding().equals(h.binding()) && p.awaitsBinding()) {
                try {
                    Optional<ProtectedDomain> adopted = h.adopt(p.id());
                    if (adopted.isPresent()) {
                        p.adopt(adopted.get());
                    } else {
                        p.adoptionFailed("it does not run here any more, or its dirty log did not survive");
                    }
                } catch (HypervisorException | RuntimeException e) {
                    p.adoptionFailed(e.getMessage());
                }
            }
        }
        for (BackupReplica b : backups.values()) {
            if (b.binding().equals(h.binding()) && b.awaitsBinding()) {
                b.adoptReplica(spec -> {
                    try {
                        return h.adoptReplica(spec);
                    } catch (HypervisorException e) {
                        throw new IllegalStateException(e.getMessage(), e);
                    }
                });
            }
        }
        restorePending();
    }

    public void removeHypervisor(Hypervisor h) {
        if (!hypervisors.remove(h.binding(), h)) {
            return;
        }
        LOG.info("Hypervisor binding '{}' went away", h.binding());
        for (PrimaryProtection p : primaries.values()) {
            if (p.binding().equals(h.binding())) {
                p.bindingGone();
            }
        }
        for (BackupReplica b : backups.values()) {
            if (b.binding().equals(h.binding())) {
                b.bindingGone();
            }
        }
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
        primaries.values().forEach(PrimaryProtection::attachMissingOutputs);
        restorePending();
    }

    public void removeOutputBufferProvider(OutputBufferProvider p) {
        outputProviders.removeIf(r -> r.service() == p);
        primaries.values().forEach(x -> x.outputProviderGone(p));
    }

    /**
     * Adds a way to replicate disks of kind {@code kind} (the service property {@value DiskReplicator#KIND}). For
     * each disk the primary takes the highest-ranked replicator of the disk's kind that supports it; the backup the
     * highest-ranked of the announced kind. Protections already running keep theirs until their next stream.
     */
    public void addDiskReplicator(DiskReplicator r, String kind, int ranking) {
        synchronized (diskReplicators) {
            List<Ranked<DiskReplicator>> sorted = new ArrayList<>(diskReplicators);
            sorted.add(new Ranked<>(r, ranking, kind));
            sorted.sort(Comparator.comparingInt((Ranked<DiskReplicator> x) -> x.ranking()).reversed());
            diskReplicators.clear();
            diskReplicators.addAll(sorted);
        }
        LOG.info("Disk replicator '{}' available for disks of kind '{}'", r.name(), kind);
    }

    public void removeDiskReplicator(DiskReplicator r) {
        if (diskReplicators.removeIf(x -> x.service() == r)) {
            LOG.info("Disk replicator '{}' went away", r.name());
        }
    }

    @Override
    public DiskReplicator diskReplicator(GuestDisk disk) {
        for (Ranked<DiskReplicator> r : diskReplicators) {
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
    @Override
    public String noDiskReplicator(GuestDisk disk) {
        List<String> installed = new ArrayList<>();
        for (Ranked<DiskReplicator> r : diskReplicators) {
            installed.add(r.service().name() + " (kind " + r.kind() + (r.kind().equals(disk.kind())
                    ? ", does not support it)" : ")"));
        }
        return "no disk replicator can replicate disk " + disk.name() + " (kind " + disk.kind() + ", "
                + disk.source() + "); installed: " + (installed.isEmpty() ? "none" : String.join(", ", installed))
                + ". Without one the backup's disk would not match its memory after a failover, so protection "
                + "refuses to start.";
    }

    private DiskReplicator diskReplicatorOfKind(String kind) {
        for (Ranked<DiskReplicator> r : diskReplicators) {
            if (r.kind().equals(kind)) {
                return r.service();
            }
        }
        return null;
    }

    private void checkDisks(ProtectedDomain domain) {
        for (GuestDisk disk : domain.disks()) {
            if (diskReplicator(disk) == null) {
                throw new IllegalStateException(noDiskReplicator(disk));
            }
        }
    }

    private record Ranked<T>(T service, int ranking, String kind) {

        Ranked(T service, int ranking) {
            this(service, ranking, "");
        }
    }

    public void setTransport(CheckpointTransport t) {
        transport.set(t);
        t.setAcceptor(this);
        LOG.info("Checkpoint transport available, listening at {}", t.listenAddress());
        restorePending();
    }

    public void unsetTransport(CheckpointTransport t) {
        transport.compareAndSet(t, null);
    }

    /** The failure detector: backups watch their primaries with it, primaries send their backups heartbeats. */
    public void setDetector(FailureDetector d) {
        detector.set(d);
        LOG.info("Failure detector available (node {})", d.nodeId());
        if (!d.nodeId().equals(settings.nodeId())) {
            LOG.warn("The failure detector calls this node '{}' but the engine calls it '{}': peers match heartbeats "
                    + "to streams by node id, so set the same node.id in io.romulus.detector and io.romulus.engine",
                    d.nodeId(), settings.nodeId());
        }
        failovers.detectorChanged();
        primaries.values().forEach(PrimaryProtection::detectorChanged);
    }

    public void unsetDetector(FailureDetector d) {
        if (detector.compareAndSet(d, null)) {
            failovers.detectorChanged();
            primaries.values().forEach(PrimaryProtection::detectorChanged);
        }
    }

    /** The witness that decides which node may run a domain (split-brain protection); none is a valid setup. */
    public void setWitness(Witness w) {
        witness.set(w);
        LOG.info("Witness available: {}", w.describe());
    }

    public void unsetWitness(Witness w) {
        if (witness.compareAndSet(w, null)) {
            LOG.warn("The witness went away ({}); primaries hold output rather than run unprotected until it returns",
                    w.describe());
        }
    }

    @Override
    public CheckpointTransport transport() {
        return transport.get();
    }

    @Override
    public FailureDetector detector() {
        return detector.get();
    }

    @Override
    public Witness witness() {
        return witness.get();
    }

    @Override
    public Alarms alarms() {
        return alarms;
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
                ProtectionState was = existing.status().state();
                if (was != ProtectionState.FENCED && was != ProtectionState.FAILED) {
                    throw new IllegalStateException(id + " is already protected (" + was + ")");
                }
                primaries.remove(id, existing);
            }
            BackupReplica replica = backups.get(id);
            if (replica != null && !replica.isActivated()) {
                throw new IllegalStateException("this node is the backup of " + id + " (" + replica.status().state()
                        + "); fail over first (romulus:failover) or drop the replica (romulus:unprotect)");
            }
            // a replica activated here is the domain now: protecting it again gives it a new backup
            Activated taken = activated.remove(id);
            Witness.Lease lease = taken != null ? taken.lease() : acquireLease(id);
            ProtectedDomain domain;
            try {
                domain = taken != null ? taken.domain() : hypervisor.open(id, request.options());
            } catch (HypervisorException | RuntimeException e) {
                if (lease != null) {
                    lease.close();
                }
                throw e;
            }
            if (taken != null) {
                backups.remove(id);
            }
            List<PrimaryProtection.Output> outputs = new ArrayList<>();
            try {
                checkDisks(domain);
                for (GuestInterface nic : domain.networkInterfaces()) {
                    outputs.add(attachOutput(nic));
                }
            } catch (OutputBufferException | RuntimeException e) {
                outputs.forEach(o -> o.each(OutputBuffer::close));
                if (taken != null) {
                    activated.put(id, taken);
                } else {
                    domain.close();
                    if (lease != null) {
                        lease.close();
                    }
                }
                throw e;
            }
            InetSocketAddress heartbeat = request.heartbeat() != null ? request.heartbeat()
                    : InetSocketAddress.createUnresolved(request.peer().getHostString(), s.peerHeartbeatPort());
            // the backup gets the machine the binding made of the request (a VM definition read here, say)
            Map<String, String> helloOptions = domain.replicaOptions().orElse(request.options());
            PrimaryProtection p = new PrimaryProtection(id, request.peer(), resolved(heartbeat), interval,
                    helloOptions, request.verify(), s, domain, outputs, this, lease);
            primaries.put(id, p);
            LOG.info("Protecting {} with backup {} every {} ms", id, PrimaryProtection.hostPort(request.peer()),
                    interval);
            p.start();
            return p.status();
        }
    }

    private static InetSocketAddress resolved(InetSocketAddress a) {
        InetSocketAddress r = new InetSocketAddress(a.getHostString(), a.getPort());
        return r.isUnresolved() ? a : r;
    }

    /**
     * With a witness, the primary must hold the domain's lease before it runs it protected: otherwise another node
     * may run it (it was taken over), and protecting a second copy would be split brain.
     */
    private Witness.Lease acquireLease(DomainId id) throws WitnessException {
        Witness w = witness.get();
        if (w == null) {
            return null;
        }
        Optional<Witness.Lease> lease = w.tryAcquire(id.toString(), settings.nodeId());
        if (lease.isEmpty()) {
            throw new IllegalStateException("the witness (" + w.describe() + ") says "
                    + w.holder(id.toString()).orElse("another node") + " holds the lease of " + id
                    + ": it runs there, so it is not protected from here");
        }
        return lease.get();
    }

    @Override
    public PrimaryProtection.Output attachOutput(GuestInterface nic) throws OutputBufferException {
        List<String> tried = new ArrayList<>();
        for (Ranked<OutputBufferProvider> r : outputProviders) {
            OutputBufferProvider p = r.service();
            if (p.supports(nic)) {
                return new PrimaryProtection.Output(nic, p, p.attach(nic));
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
            failovers.forget(domain);
            Activated running = activated.remove(domain);
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
        if (activated.containsKey(id)) {
            throw new DomainTakenOverException(id + " was activated on " + settings.nodeId() + " and runs there now");
        }
        if (closed) {
            throw new CheckpointException("the engine of " + settings.nodeId() + " is stopping (a bundle update or a "
                    + "shutdown); try again");
        }
        if (pendingBackups.stream().anyMatch(h -> h.id().equals(id))) {
            // answering now would start a new replica: the primary retries until this one is taken over
            throw new CheckpointException("the replica of " + id + " is being taken over from the previous engine on "
                    + settings.nodeId() + " (waiting for its '" + id.binding() + "' binding); try again");
        }
        PrimaryProtection here = primaries.get(id);
        if (here != null && !hello.nodeId().equals(settings.nodeId())) {
            ProtectionState st = here.status().state();
            if (st != ProtectionState.FENCED && st != ProtectionState.STOPPED && st != ProtectionState.FAILED) {
                if (here.takenOver()) {
                    // this node took the domain over: the node asking is an old primary that must stop its copy
                    throw new DomainTakenOverException(id + " was taken over by " + settings.nodeId()
                            + " and runs there now");
                }
                throw new CheckpointException(id + " runs as primary on this node; refusing to become its backup");
            }
            // this node lost the domain earlier; the node that runs it now makes this one its backup
            primaries.remove(id, here);
        }
        Hypervisor hypervisor = hypervisors.get(hello.binding());
        if (hypervisor == null) {
            throw new CheckpointException("this node has no '" + hello.binding() + "' hypervisor binding");
        }
        // the domain's disks (romulus.disk.<i>), each needs a replicator of its kind here
        List<GuestDisk> disks;
        try {
            disks = DiskAnnouncement.parse(hello.options());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException("bad disk announcement in the HELLO of " + id + ": " + e.getMessage());
        }
        List<DiskReplicator> replicators = new ArrayList<>();
        for (GuestDisk disk : disks) {
            DiskReplicator r = diskReplicatorOfKind(disk.kind());
            if (r == null) {
                List<String> kinds = diskReplicators.stream().map(Ranked::kind).distinct().sorted().toList();
                throw new CheckpointException("this node has no disk replicator for disk " + disk.name() + " (kind "
                        + disk.kind() + ") of " + id + "; installed kinds: "
                        + (kinds.isEmpty() ? "none" : String.join(", ", kinds)));
            }
            replicators.add(r);
        }
        // options starting with romulus. are the engine's (where the primary's stream listens, the disks); the rest
        // the binding's
        Map<String, String> bindingOptions = new java.util.LinkedHashMap<>();
        String returnAddress = null;
        for (Map.Entry<String, String> o : hello.options().entrySet()) {
            if (o.getKey().equals(PrimaryProtection.RETURN_OPTION)) {
                returnAddress = o.getValue();
            } else if (!o.getKey().startsWith("romulus.")) {
                bindingOptions.put(o.getKey(), o.getValue());
            }
        }
        String lineage = hello.options().get(PrimaryProtection.LINEAGE_OPTION);
        String resume = hello.options().get(PrimaryProtection.RESUME_OPTION);
        BackupReplica existing = backups.get(id);
        if (resume != null && existing != null) {
            long[] range = resumeRange(resume);
            ReplicaSink sink = range == null ? null : existing.resumeStream(hello.nodeId(), lineage, range[0],
                    range[1], disks, bindingOptions, returnAddress);
            if (sink != null) {
                failovers.watch(id, hello.nodeId());
                long from = existing.committedEpoch();
                return new Accepted(sink, new HelloReply(settings.nodeId(), from, from));
            }
            LOG.info("{} asks to resume its stream at {}; the replica here cannot continue it ({}), so it starts with "
                    + "an initial copy", hello.nodeId(), resume, existing.status().detail());
        }
        Replica replica;
        try {
            replica = hypervisor.createReplica(new ReplicaSpec(id, hello.memoryBytes(), hello.pageSize(),
                    bindingOptions));
        } catch (HypervisorException | IllegalArgumentException e) {
            throw new CheckpointException("cannot build a replica of " + id + ": " + e.getMessage(), e);
        }
        List<BackupReplica.ReplicaDisk> replicaDisks = new ArrayList<>();
        for (int i = 0; i < disks.size(); i++) {
            GuestDisk disk = disks.get(i);
            try {
                replicaDisks.add(new BackupReplica.ReplicaDisk(disk, replicators.get(i).backup(id, disk)));
            } catch (Exception e) {
                replicaDisks.forEach(d -> d.backup().close());
                replica.close();
                throw new CheckpointException("cannot build the replica of disk " + disk.name() + " of " + id
                        + " with '" + replicators.get(i).name() + "': " + e.getMessage(), e);
            }
        }
        BackupReplica backup = backups.computeIfAbsent(id, k -> newBackup(k));
        long previous = backup.committedEpoch();
        var sink = backup.newStream(hello.nodeId(), lineage, replica, replicaDisks, bindingOptions, returnAddress);
        failovers.watch(id, hello.nodeId());
        LOG.info("Receiving checkpoints of {} from {} ({} MiB{})", id, hello.nodeId(), hello.memoryBytes() >> 20,
                disks.isEmpty() ? "" : ", disks " + String.join(", ", disks.stream().map(GuestDisk::name).toList()));
        return new Accepted(sink, new HelloReply(settings.nodeId(), previous));
    }

    private BackupReplica newBackup(DomainId id) {
        return new BackupReplica(id, this::dropBackup, () -> failovers.heard(id),
                () -> failovers.grace(id, settings.handoverGraceMs()));
    }

    /** {@code A-C} of the resume option, or null when it is malformed. */
    private static long[] resumeRange(String value) {
        int dash = value.indexOf('-');
        try {
            long from = Long.parseLong(value.substring(0, dash));
            long to = Long.parseLong(value.substring(dash + 1));
            return from >= 0 && to >= from ? new long[] {from, to} : null;
        } catch (IndexOutOfBoundsException | NumberFormatException e) {
            return null;
        }
    }

    private void dropBackup(BackupReplica b) {
        if (backups.remove(b.id(), b)) {
            failovers.forget(b.id());
            b.close();
        }
    }

    /**
     * The operator's failover. With a witness it takes the domain's lease first and refuses while another node holds
     * it: that node is alive as far as the witness knows, and activating here would run two copies.
     */
    @Override
    public ProtectionStatus failover(DomainId domain) throws Exception {
        BackupReplica b = backups.get(domain);
        if (b == null) {
            throw new IllegalArgumentException("this node holds no replica of " + domain);
        }
        Witness w = witness.get();
        Witness.Lease lease = null;
        if (w != null) {
            Optional<Witness.Lease> taken = w.tryAcquire(domain.toString(), settings.nodeId());
            if (taken.isEmpty()) {
                throw new IllegalStateException("the witness (" + w.describe() + ") says "
                        + w.holder(domain.toString()).orElse("another node") + " holds the lease of " + domain
                        + ": its primary is alive; stop it there (romulus:unprotect) before failing over");
            }
            lease = taken.get();
        }
        try {
            activate(domain, lease);
        } catch (Exception e) {
            if (lease != null) {
                lease.close();
            }
            throw e;
        }
        failovers.forget(domain);
        alarms.raise(Alarm.Kind.FAILOVER, domain, "replica activated here by the operator; the domain runs on this "
                + "node now (romulus:status shows whether it is protected back towards the node it came from)");
        return b.status();
    }

    /**
     * Scale-out: the clone starts here from this node's replica of {@code domain} and is protected like a replica
     * activated here, towards {@code backup} or else the node the replica's primary runs on.
     */
    @Override
    public ProtectionStatus fork(DomainId domain, DomainId clone, Map<String, String> overrides,
            InetSocketAddress backup) throws Exception {
        BackupReplica b = backups.get(domain);
        if (b == null || b.isActivated()) {
            throw new IllegalArgumentException("this node holds no replica of " + domain + ": a clone starts from a "
                    + "committed checkpoint, so it is made on the node that is " + domain + "'s backup");
        }
        if (!clone.binding().equals(domain.binding())) {
            throw new IllegalArgumentException("a clone of " + domain + " runs under the same binding, not as " + clone);
        }
        if (clone.equals(domain)) {
            throw new IllegalArgumentException("a clone needs a name of its own, not " + domain + "'s");
        }
        InetSocketAddress peer = backup;
        if (peer == null) {
            String back = b.returnAddress();
            if (back == null) {
                throw new IllegalArgumentException("the primary of " + domain + " did not say where its stream "
                        + "listens; name the clone's backup");
            }
            peer = ProtectRequest.parsePeer(back);
        }
        CheckpointTransport t = transport.get();
        if (t != null && isThisNode(peer, t.listenAddress())) {
            throw new IllegalArgumentException("the backup of " + clone + " must be another node than this one, which "
                    + "runs it (" + PrimaryProtection.hostPort(peer) + ")");
        }
        synchronized (primaries) {
            if (primaries.containsKey(clone) || backups.containsKey(clone) || activated.containsKey(clone)) {
                throw new IllegalStateException(clone + " is already protected, or runs, on this node");
            }
            Witness.Lease lease = acquireLease(clone);
            ProtectedDomain running;
            long from = b.committedEpoch();
            try {
                running = b.fork(clone, overrides);
            } catch (HypervisorException | RuntimeException e) {
                if (lease != null) {
                    lease.close();
                }
                throw e;
            }
            activated.put(clone, new Activated(running, lease));
            Map<String, String> options = new LinkedHashMap<>(b.options());
            options.putAll(overrides);
            try {
                ProtectionStatus s = protect(new ProtectRequest(clone, peer, 0, options));
                LOG.info("{} started from {}'s replica (committed checkpoint {} or a later one); protected towards {}",
                        clone, domain, from, PrimaryProtection.hostPort(peer));
                return s;
            } catch (Exception e) {
                Activated a = activated.remove(clone);
                if (a != null) {
                    destroyQuietly(a.domain(), clone);
                    if (a.lease() != null) {
                        a.lease().close();
                    }
                }
                throw e;
            }
        }
    }

    private static boolean isThisNode(InetSocketAddress peer, InetSocketAddress local) {
        if (local == null || peer.getPort() != local.getPort()) {
            return false;
        }
        InetSocketAddress p = resolved(peer);
        if (p.isUnresolved() || p.getAddress() == null) {
            return false;
        }
        return p.getAddress().equals(local.getAddress()) || p.getAddress().isLoopbackAddress()
                && local.getAddress() != null && local.getAddress().isAnyLocalAddress();
    }

    private static void destroyQuietly(ProtectedDomain d, DomainId id) {
        try {
            d.destroy();
        } catch (HypervisorException | RuntimeException e) {
            LOG.warn("Stopping {} failed", id, e);
        }
    }

    /** Scale-down: protection ends (the backup drops its replica) and the domain stops. */
    @Override
    public void retire(DomainId domain) throws Exception {
        PrimaryProtection p = primaries.get(domain);
        if (p == null) {
            Activated running = activated.remove(domain);
            if (running == null) {
                throw new IllegalArgumentException(domain + " does not run from this node"
                        + (backups.containsKey(domain) ? " (this node holds its replica; its primary retires it)"
                                : ""));
            }
            destroyQuietly(running.domain(), domain);
            if (running.lease() != null) {
                running.lease().close();
            }
            LOG.info("{} retired: it ran here unprotected and is stopped", domain);
            return;
        }
        p.stop(true);
        primaries.remove(domain, p);
    }

    @Override
    public boolean canActivate(DomainId id) {
        BackupReplica b = backups.get(id);
        return b != null && !b.isActivated() && b.committedEpoch() >= 0;
    }

    @Override
    public void activate(DomainId id, Witness.Lease lease) throws Exception {
        BackupReplica b = backups.get(id);
        if (b == null) {
            throw new IllegalArgumentException("this node holds no replica of " + id);
        }
        ProtectedDomain running = b.activate();
        String back = b.returnAddress();
        if (!settings.reprotect() || back == null) {
            activated.put(id, new Activated(running, lease));
            return;
        }
        try {
            protectBack(id, running, lease, b, ProtectRequest.parsePeer(back));
        } catch (OutputBufferException | RuntimeException e) {
            LOG.error("{} runs here, but protecting it back towards {} failed: {}; it runs without a backup until "
                    + "romulus:protect gives it one", id, back, e.getMessage());
            activated.put(id, new Activated(running, lease));
        }
    }

    /**
     * The replica runs here now: it becomes a primary that waits for its new backup, the node it came from. It runs
     * unprotected (output passes) until that node answers; then a full copy, and it is PROTECTED again.
     */
    private void protectBack(DomainId id, ProtectedDomain running, Witness.Lease lease, BackupReplica b,
            InetSocketAddress peer) throws OutputBufferException {
        EngineSettings s = settings;
        checkDisks(running);
        List<PrimaryProtection.Output> outputs = new ArrayList<>();
        try {
            for (GuestInterface nic : running.networkInterfaces()) {
                outputs.add(attachOutput(nic));
            }
        } catch (OutputBufferException | RuntimeException e) {
            outputs.forEach(o -> o.each(OutputBuffer::close));
            throw e;
        }
        InetSocketAddress heartbeat = resolved(InetSocketAddress.createUnresolved(peer.getHostString(),
                s.peerHeartbeatPort()));
        PrimaryProtection p = new PrimaryProtection(id, peer, heartbeat, s.intervalMs(), b.options(), false, s,
                running, outputs, this, lease, true);
        synchronized (primaries) {
            primaries.put(id, p);
            backups.remove(id, b);
        }
        LOG.info("{} runs here after the failover; protecting it back towards {} (the node it came from) as soon as "
                + "that node answers", id, PrimaryProtection.hostPort(peer));
        p.start();
    }

    @Override
    public List<Alarm> alarms(int limit) {
        return alarms.recent(limit);
    }

    @Override
    public void addAlarmListener(Consumer<Alarm> listener) {
        alarms.add(listener);
    }

    @Override
    public void removeAlarmListener(Consumer<Alarm> listener) {
        alarms.remove(listener);
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

    // ------------------------------------------------------------------------------------------------ hand-over

    /** Handed over or shut down: a transport that still knows this engine gets no new stream from it. */
    private volatile boolean closed;
    private final List<PrimaryProtection.HandedOver> pendingPrimaries = new CopyOnWriteArrayList<>();
    private final List<BackupReplica.HandedOver> pendingBackups = new CopyOnWriteArrayList<>();

    /**
     * The engine bundle is being updated (ARCHITECTURE.md section 8): every protection stops at an epoch boundary
     * and lets go of its domain, output buffers and stream without ending (output stays held, the domain runs on
     * with its dirty log, the backup keeps its replica); every replica is let go of without being dropped. What the
     * next engine needs is written to {@code state}; {@link #restore(java.nio.file.Path)} of the next engine takes
     * it from there. Domains activated here and not protected are let go of and keep running.
     */
    public void handOver(java.nio.file.Path state) {
        closed = true;
        List<PrimaryProtection.HandedOver> handed = new ArrayList<>();
        for (PrimaryProtection p : primaries.values()) {
            try {
                PrimaryProtection.HandedOver h = p.handOver();
                if (h != null) {
                    handed.add(h);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        handed.addAll(pendingPrimaries);
        primaries.clear();
        List<BackupReplica.HandedOver> replicas = new ArrayList<>();
        for (BackupReplica b : backups.values()) {
            BackupReplica.HandedOver h = b.handOver();
            if (h != null) {
                replicas.add(h);
            } else {
                b.close();
            }
        }
        replicas.addAll(pendingBackups);
        backups.clear();
        activated.values().forEach(a -> a.domain().detach());
        activated.clear();
        failovers.close();
        try {
            HandoverState.write(state, handed, replicas);
            LOG.info("Engine handed over {} protection(s) and {} replica(s) to its next version ({})", handed.size(),
                    replicas.size(), state);
        } catch (java.io.IOException e) {
            LOG.error("Writing the hand-over state to {} failed: the next engine cannot resume the protections of {}; "
                    + "their domains run on with output held until protected again", state,
                    handed.stream().map(h -> h.id().toString()).toList(), e);
        }
    }

    /**
     * Takes over what the previous engine handed over in {@code state} (and deletes it): each protection once its
     * binding adopts the domain and providers hold its interfaces again, each replica once its binding adopts it.
     * What cannot be taken over yet waits for the helpers to appear.
     */
    public void restore(java.nio.file.Path state) {
        HandoverState read;
        try {
            read = HandoverState.read(state);
        } catch (java.io.IOException | RuntimeException e) {
            LOG.error("The hand-over state at {} cannot be read ({}); the protections of the previous engine are not "
                    + "resumed: protect them again", state, e.toString());
            return;
        } finally {
            try {
                java.nio.file.Files.deleteIfExists(state);
            } catch (java.io.IOException e) {
                LOG.warn("Cannot delete {}", state, e);
            }
        }
        if (read == null) {
            return;
        }
        pendingPrimaries.addAll(read.primaries());
        pendingBackups.addAll(read.backups());
        LOG.info("Taking over {} protection(s) and {} replica(s) from the previous engine", read.primaries().size(),
                read.backups().size());
        restorePending();
    }

    /** Tries to take over what is still pending; called whenever a helper appears. */
    private void restorePending() {
        synchronized (pendingPrimaries) {
            for (PrimaryProtection.HandedOver h : List.copyOf(pendingPrimaries)) {
                if (restorePrimary(h)) {
                    pendingPrimaries.remove(h);
                }
            }
            for (BackupReplica.HandedOver h : List.copyOf(pendingBackups)) {
                if (restoreBackup(h)) {
                    pendingBackups.remove(h);
                }
            }
        }
    }

    /** Returns true when done with {@code h} (taken over, or given up), false to wait for a helper. */
    private boolean restorePrimary(PrimaryProtection.HandedOver h) {
        Hypervisor hypervisor = hypervisors.get(h.id().binding());
        if (hypervisor == null || transport.get() == null) {
            return false;
        }
        ProtectedDomain domain;
        try {
            Optional<ProtectedDomain> adopted = hypervisor.adopt(h.id());
            if (adopted.isEmpty()) {
                LOG.error("{} was protected by the previous engine, but the '{}' binding cannot adopt it (it no "
                        + "longer runs here, or its dirty log did not survive); protect it again", h.id(),
                        h.id().binding());
                alarms.raise(Alarm.Kind.FAILED, h.id(), "not taken over from the previous engine: the binding "
                        + "cannot adopt it; protect it again");
                return true;
            }
            domain = adopted.get();
        } catch (HypervisorException | RuntimeException e) {
            LOG.error("Adopting {} from the previous engine failed: {}", h.id(), e.getMessage(), e);
            return true;
        }
        List<PrimaryProtection.Output> outputs = new ArrayList<>();
        try {
            for (GuestInterface nic : domain.networkInterfaces()) {
                outputs.add(attachOutput(nic));
            }
        } catch (OutputBufferException | RuntimeException e) {
            // no provider holds an interface yet: let go again and wait for one (the kernel holds its output)
            outputs.forEach(o -> o.each(OutputBuffer::detach));
            domain.detach();
            LOG.info("{}: waiting for an output buffer to take it over ({})", h.id(), e.getMessage());
            return false;
        }
        Witness.Lease lease = null;
        try {
            lease = acquireLease(h.id());
        } catch (WitnessException | RuntimeException e) {
            LOG.warn("{}: the witness's lease could not be taken again after the engine update ({}); output is held "
                    + "without a backup until it is", h.id(), e.getMessage());
        }
        PrimaryProtection p = new PrimaryProtection(h, settings, domain, outputs, this, lease);
        synchronized (primaries) {
            primaries.put(h.id(), p);
        }
        LOG.info("Took over the protection of {} from the previous engine at checkpoint {} (acknowledged {})",
                h.id(), h.lastCheckpointed(), h.lastAcked());
        p.start();
        return true;
    }

    private boolean restoreBackup(BackupReplica.HandedOver h) {
        Hypervisor hypervisor = hypervisors.get(h.id().binding());
        if (hypervisor == null) {
            return false;
        }
        Optional<Replica> adopted;
        try {
            adopted = hypervisor.adoptReplica(new ReplicaSpec(h.id(), h.memoryBytes(), h.pageSize(), h.options()));
        } catch (HypervisorException | RuntimeException e) {
            LOG.error("Adopting the replica of {} from the previous engine failed: {}", h.id(), e.getMessage(), e);
            return true;
        }
        if (adopted.isEmpty() || adopted.get().committedEpoch() != h.committedEpoch()) {
            LOG.error("The '{}' binding did not adopt the replica of {} at checkpoint {}; its primary's next stream "
                    + "copies the domain whole", h.id().binding(), h.id(), h.committedEpoch());
            adopted.ifPresent(Replica::close);
            return true;
        }
        BackupReplica b = BackupReplica.restored(h, adopted.get(), this::dropBackup, () -> failovers.heard(h.id()),
                () -> failovers.grace(h.id(), settings.handoverGraceMs()));
        if (backups.putIfAbsent(h.id(), b) != null) {
            adopted.get().close();
            return true;
        }
        failovers.watch(h.id(), h.primaryNode());
        LOG.info("Took over the replica of {} at checkpoint {} from the previous engine", h.id(), h.committedEpoch());
        return true;
    }

    /** Stops every protection and drops every replica (the engine is going away). */
    public void shutdown() {
        closed = true;
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
        activated.values().forEach(Activated::close);
        activated.clear();
        failovers.close();
    }
}
