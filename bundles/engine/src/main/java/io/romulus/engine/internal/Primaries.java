package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.witness.Witness;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary side of the engine: it starts a {@link PrimaryProtection} (an epoch loop) for each domain the operator
 * protects, or that runs here after a failover and is protected back towards the node it came from; it stops them,
 * retunes them, and tells them when a helper they use (binding, output buffer, failure detector) comes or goes.
 */
final class Primaries {

    private static final Logger LOG = LoggerFactory.getLogger(Primaries.class);

    private final Engine engine;
    private final HelperRegistry helpers;
    private final DomainRoles roles;
    private final FailoverCoordinator failovers;

    /** @param engine the node the protections work for, and its settings */
    Primaries(Engine engine, HelperRegistry helpers, DomainRoles roles, FailoverCoordinator failovers) {
        this.engine = engine;
        this.helpers = helpers;
        this.roles = roles;
        this.failovers = failovers;
    }

    ProtectionStatus protect(ProtectRequest request) throws Exception {
        DomainId id = request.domain();
        EngineSettings s = engine.settings();
        int interval = request.intervalMs() == 0 ? s.intervalMs() : s.checkInterval(request.intervalMs());
        Hypervisor hypervisor = helpers.usableHypervisor(id);
        if (helpers.transport() == null) {
            throw new IllegalStateException("no checkpoint transport is running on this node");
        }
        synchronized (roles.lock) {
            PrimaryProtection existing = roles.primaries.get(id);
            if (existing != null) {
                ProtectionState was = existing.state();
                if (was != ProtectionState.FENCED && was != ProtectionState.FAILED) {
                    throw new IllegalStateException(id + " is already protected (" + was + ")");
                }
                roles.primaries.remove(id, existing);
            }
            BackupReplica replica = roles.replicas.get(id);
            if (replica != null && !replica.isActivated()) {
                throw new IllegalStateException("this node is the backup of " + id + " (" + replica.status().state()
                        + "); fail over first (romulus:failover) or drop the replica (romulus:unprotect)");
            }
            // a replica activated here is the domain now: protecting it again gives it a new backup
            DomainRoles.Activated taken = roles.activated.remove(id);
            Witness.Lease lease = taken != null ? taken.lease() : helpers.acquireLease(id, s.nodeId());
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
                roles.replicas.remove(id);
            }
            List<PrimaryProtection.Output> outputs;
            try {
                helpers.checkDisks(domain);
                outputs = helpers.attachOutputs(domain, OutputBuffer::close);
            } catch (OutputBufferException | RuntimeException e) {
                if (taken != null) {
                    roles.activated.put(id, taken);
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
                    helloOptions, request.verify(), s, domain, outputs, engine, lease);
            roles.primaries.put(id, p);
            LOG.info("Protecting {} with backup {} every {} ms", id, PrimaryProtection.hostPort(request.peer()),
                    interval);
            p.start();
            return p.status();
        }
    }

    /**
     * The replica {@code b} runs here now: it becomes a primary that waits for its new backup, {@code peer}, the node
     * it came from. It runs unprotected (output passes) until that node answers; then a full copy, and it is
     * PROTECTED again.
     */
    void protectBack(DomainId id, BackupReplica.Activated activated, Witness.Lease lease, BackupReplica b,
            InetSocketAddress peer) throws OutputBufferException, InterruptedException {
        EngineSettings s = engine.settings();
        ProtectedDomain running = activated.domain();
        try {
            helpers.checkDisks(running);
        } catch (RuntimeException e) {
            activated.closeOutputs("the domain's disks cannot be protected");
            throw e;
        }
        List<PrimaryProtection.Output> outputs = helpers.attachOutputs(running, OutputBuffer::close,
                activated.takeOutputs());
        InetSocketAddress heartbeat = resolved(InetSocketAddress.createUnresolved(peer.getHostString(),
                s.peerHeartbeatPort()));
        PrimaryProtection p = new PrimaryProtection(id, peer, heartbeat, s.intervalMs(), b.options(), false, s,
                running, outputs, engine, lease, true);
        synchronized (roles.lock) {
            roles.primaries.put(id, p);
            roles.replicas.remove(id, b);
        }
        LOG.info("{} runs here after the failover; protecting it back towards {} (the node it came from) as soon as "
                + "that node answers", id, PrimaryProtection.hostPort(peer));
        p.start();
    }

    /**
     * Planned switchover, on the backup: the replica {@code b} was activated here at checkpoint {@code epoch} of
     * {@code lineage} and becomes the primary, protected back towards {@code peer}, the old primary. Output is held
     * and the dirty log started before a paused domain runs, so that the old primary resumes the replica it kept
     * (no full copy, and nothing the domain writes or sends is missed).
     */
    void protectSwitchedOver(DomainId id, BackupReplica.Activated running, Witness.Lease lease, BackupReplica b,
            InetSocketAddress peer, String lineage, long epoch, HandOverTimeline timeline, PreOpenedStream stream)
            throws Exception {
        EngineSettings s = engine.settings();
        ProtectedDomain d = running.domain();
        List<PrimaryProtection.Output> outputs;
        try {
            helpers.checkDisks(d);
            outputs = helpers.attachOutputs(d, OutputBuffer::close, running.takeOutputs());
            timeline.mark("output buffers attached");
            d.startDirtyLog();
            timeline.mark("dirty log started");
        } catch (Exception e) {
            running.closeOutputs("protecting the domain failed");
            roles.activated.put(id, new DomainRoles.Activated(d, lease));
            roles.replicas.remove(id, b);
            if (running.paused()) {
                d.resume();
            }
            throw e;
        }
        InetSocketAddress heartbeat = resolved(InetSocketAddress.createUnresolved(peer.getHostString(),
                s.peerHeartbeatPort()));
        PrimaryProtection p = PrimaryProtection.switchedOver(id, peer, heartbeat, b.options(), lineage, epoch,
                running.paused(), s, d, outputs, engine, lease, timeline, stream);
        synchronized (roles.lock) {
            roles.primaries.put(id, p);
            roles.replicas.remove(id, b);
        }
        timeline.mark("protection built");
        if (running.paused()) {
            d.resume(); // I5: the old primary stopped its copy before it sent the hand-over this follows
            timeline.running();
        }
        LOG.info("{} runs here after a switchover at checkpoint {}; protected back towards {}", id, epoch,
                PrimaryProtection.hostPort(peer));
        p.start();
        if (running.paused()) {
            // after the loop started: its first checkpoint, which releases the first output, does not wait for it
            try {
                d.announce(); // the binding left it paused, so it has not told the network where it runs now
                timeline.mark("announced");
            } catch (HypervisorException | RuntimeException e) {
                LOG.warn("Announcing {} from here after the switchover failed: {}", id, e.getMessage());
            }
        }
    }

    /**
     * Planned switchover of a domain this node protects: waits for the loop to hand it over, or for the reason it
     * did not.
     */
    String switchover(DomainId domain) throws Exception {
        PrimaryProtection p = roles.primaries.get(domain);
        long timeoutMs = 2 * PrimaryProtection.switchoverTimeoutMs(engine.settings()) + 30_000;
        if (p == null) {
            BackupReplica b = roles.replicas.get(domain);
            if (b == null || b.isActivated()) {
                throw new IllegalArgumentException(domain + " is not protected by this node");
            }
            return switchoverFromBackup(domain, b, timeoutMs);
        }
        try {
            return p.switchover().get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof Exception ex ? ex : e;
        } catch (TimeoutException e) {
            throw new IllegalStateException("the switchover of " + domain + " did not finish within " + timeoutMs
                    + " ms; romulus:status shows where it stands", e);
        }
    }

    /**
     * The switchover asked on the backup: the wish travels to the primary with the next ACK, and the domain comes
     * here when the primary hands it over. Waits until it runs here, or says where to look when it does not.
     */
    private String switchoverFromBackup(DomainId domain, BackupReplica b, long timeoutMs) throws Exception {
        String primaryNode = b.status().peer();
        b.wishSwitchover();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (System.nanoTime() < deadline) {
            PrimaryProtection p = roles.primaries.get(domain);
            if (p != null) {
                return domain + " was handed over to this node by " + primaryNode + " (" + p.status().detail() + ")";
            }
            if (roles.replicas.get(domain) != b) {
                p = roles.primaries.get(domain); // the replica makes way for the primary after it is in place
                if (p != null) {
                    continue;
                }
                break;
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException("asked the primary " + primaryNode + " of " + domain + " for a switchover, "
                + "but the domain does not run here; romulus:status --alarms on " + primaryNode + " says why (a "
                + "switchover that aborts leaves the domain running there, protected)");
    }

    /** {@code a} resolved now, or as it is when its name does not resolve. */
    static InetSocketAddress resolved(InetSocketAddress a) {
        InetSocketAddress r = new InetSocketAddress(a.getHostString(), a.getPort());
        return r.isUnresolved() ? a : r;
    }

    /**
     * Stops protecting {@code domain}: the primary here stops; else the domain activated here stops; else the replica
     * is dropped.
     */
    void unprotect(DomainId domain) throws Exception {
        PrimaryProtection p = roles.primaries.get(domain);
        if (p == null) {
            BackupReplica b = roles.replicas.remove(domain);
            failovers.forget(domain);
            DomainRoles.Activated running = roles.activated.remove(domain);
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
        roles.primaries.remove(domain, p);
    }

    void setInterval(DomainId domain, int intervalMs) {
        primary(domain).setInterval(engine.settings().checkInterval(intervalMs));
        LOG.info("Epoch interval of {} set to {} ms", domain, intervalMs);
    }

    List<EpochStats> epochs(DomainId domain, int limit) {
        return primary(domain).epochs(Math.max(1, limit));
    }

    private PrimaryProtection primary(DomainId domain) {
        PrimaryProtection p = roles.primaries.get(domain);
        if (p == null) {
            throw new IllegalArgumentException(domain + " is not protected by this node as primary");
        }
        return p;
    }

    /** A new version of a binding adopts what the previous one left running (ARCHITECTURE.md section 8). */
    void bindingArrived(Hypervisor h) {
        for (PrimaryProtection p : roles.primaries.values()) {
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
    }

    void bindingGone(String binding) {
        for (PrimaryProtection p : roles.primaries.values()) {
            if (p.binding().equals(binding)) {
                p.bindingGone();
            }
        }
    }

    void outputProviderArrived() {
        roles.primaries.values().forEach(PrimaryProtection::attachMissingOutputs);
    }

    void outputProviderGone(OutputBufferProvider provider) {
        roles.primaries.values().forEach(p -> p.outputProviderGone(provider));
    }

    void detectorChanged() {
        roles.primaries.values().forEach(PrimaryProtection::detectorChanged);
    }
}
