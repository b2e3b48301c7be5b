package io.romulus.engine.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

import io.romulus.api.engine.Alarm;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's end: a hand-over to its next version when the engine bundle is updated (ARCHITECTURE.md section 8),
 * or a shutdown. The old engine writes what its protections and replicas need to a {@link HandoverState} file; the
 * new one reads it and takes each over once its helpers (binding, transport, output buffers) are there, retrying
 * whenever a helper appears.
 *
 * <p>The pending lists are concurrent: the replica intake reads them without a lock. {@link #restoring} serializes
 * the attempts to take them over, so each is taken over once.
 */
final class EngineHandOver {

    private static final Logger LOG = LoggerFactory.getLogger(EngineHandOver.class);

    private final Engine engine;
    private final HelperRegistry helpers;
    private final DomainRoles roles;
    private final FailoverCoordinator failovers;
    private final ReplicaIntake intake;
    /**
     * Handed over or shut down: a transport that still knows this engine gets no new stream from it. A flag read on
     * its own by every HELLO, hence volatile rather than locked.
     */
    private volatile boolean closed;
    private final List<PrimaryProtection.HandedOver> pendingPrimaries = new CopyOnWriteArrayList<>();
    private final List<BackupReplica.HandedOver> pendingBackups = new CopyOnWriteArrayList<>();
    private final Object restoring = new Object();

    /** @param engine the node the protections taken over work for, its settings and alarms */
    EngineHandOver(Engine engine, HelperRegistry helpers, DomainRoles roles, FailoverCoordinator failovers,
            ReplicaIntake intake) {
        this.engine = engine;
        this.helpers = helpers;
        this.roles = roles;
        this.failovers = failovers;
        this.intake = intake;
    }

    /** Whether this engine handed over or shut down. */
    boolean isClosed() {
        return closed;
    }

    /** Whether the replica of {@code id} handed over by the previous engine waits to be taken over. */
    boolean awaitsReplica(DomainId id) {
        return pendingBackups.stream().anyMatch(h -> h.id().equals(id));
    }

    /**
     * The engine bundle is being updated: every protection stops at an epoch boundary and lets go of its domain,
     * output buffers and stream without ending (output stays held, the domain runs on with its dirty log, the backup
     * keeps its replica); every replica is let go of without being dropped. What the next engine needs is written to
     * {@code state}; {@link #restore(Path)} of the next engine takes it from there. Domains activated here and not
     * protected are let go of and keep running.
     */
    void handOver(Path state) {
        closed = true;
        List<PrimaryProtection.HandedOver> handed = new ArrayList<>();
        for (PrimaryProtection p : roles.primaries.values()) {
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
        roles.primaries.clear();
        List<BackupReplica.HandedOver> replicas = new ArrayList<>();
        for (BackupReplica b : roles.replicas.values()) {
            BackupReplica.HandedOver h = b.handOver();
            if (h != null) {
                replicas.add(h);
            } else {
                b.close();
            }
        }
        replicas.addAll(pendingBackups);
        roles.replicas.clear();
        roles.activated.values().forEach(a -> a.domain().detach());
        roles.activated.clear();
        failovers.close();
        try {
            HandoverState.write(state, handed, replicas);
            LOG.info("Engine handed over {} protection(s) and {} replica(s) to its next version ({})", handed.size(),
                    replicas.size(), state);
        } catch (IOException e) {
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
    void restore(Path state) {
        HandoverState read;
        try {
            read = HandoverState.read(state);
        } catch (IOException | RuntimeException e) {
            LOG.error("The hand-over state at {} cannot be read ({}); the protections of the previous engine are not "
                    + "resumed: protect them again", state, e.toString());
            return;
        } finally {
            try {
                Files.deleteIfExists(state);
            } catch (IOException e) {
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
    void restorePending() {
        synchronized (restoring) {
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
        Hypervisor hypervisor = helpers.hypervisor(h.id().binding());
        if (hypervisor == null || helpers.transport() == null) {
            return false;
        }
        ProtectedDomain domain;
        try {
            Optional<ProtectedDomain> adopted = hypervisor.adopt(h.id());
            if (adopted.isEmpty()) {
                LOG.error("{} was protected by the previous engine, but the '{}' binding cannot adopt it (it no "
                        + "longer runs here, or its dirty log did not survive); protect it again", h.id(),
                        h.id().binding());
                engine.alarms().raise(Alarm.Kind.FAILED, h.id(), "not taken over from the previous engine: the "
                        + "binding cannot adopt it; protect it again");
                return true;
            }
            domain = adopted.get();
        } catch (HypervisorException | RuntimeException e) {
            LOG.error("Adopting {} from the previous engine failed: {}", h.id(), e.getMessage(), e);
            return true;
        }
        List<PrimaryProtection.Output> outputs;
        try {
            outputs = helpers.attachOutputs(domain, OutputBuffer::detach);
        } catch (OutputBufferException | RuntimeException e) {
            // no provider holds an interface yet: let go again and wait for one (the kernel holds its output)
            domain.detach();
            LOG.info("{}: waiting for an output buffer to take it over ({})", h.id(), e.getMessage());
            return false;
        }
        Witness.Lease lease = null;
        try {
            lease = helpers.acquireLease(h.id(), engine.settings().nodeId());
        } catch (WitnessException | RuntimeException e) {
            LOG.warn("{}: the witness's lease could not be taken again after the engine update ({}); output is held "
                    + "without a backup until it is", h.id(), e.getMessage());
        }
        PrimaryProtection p = new PrimaryProtection(h, engine.settings(), domain, outputs, engine, lease);
        synchronized (roles.lock) {
            roles.primaries.put(h.id(), p);
        }
        LOG.info("Took over the protection of {} from the previous engine at checkpoint {} (acknowledged {})",
                h.id(), h.lastCheckpointed(), h.lastAcked());
        p.start();
        return true;
    }

    private boolean restoreBackup(BackupReplica.HandedOver h) {
        Hypervisor hypervisor = helpers.hypervisor(h.id().binding());
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
        if (!intake.keepRestored(h, adopted.get())) {
            adopted.get().close();
            return true;
        }
        LOG.info("Took over the replica of {} at checkpoint {} from the previous engine", h.id(), h.committedEpoch());
        return true;
    }

    /** Stops every protection and drops every replica (the engine is going away). */
    void shutdown() {
        closed = true;
        for (PrimaryProtection p : roles.primaries.values()) {
            try {
                p.stop();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        roles.primaries.clear();
        roles.replicas.values().forEach(BackupReplica::close);
        roles.replicas.clear();
        roles.activated.values().forEach(DomainRoles.Activated::close);
        roles.activated.clear();
        failovers.close();
    }
}
