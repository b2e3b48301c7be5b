package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.witness.Witness;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bringing a replica to life on this node, and ending what runs from it: failover (by the operator, or by the
 * failover coordinator once the primary is convicted), fork (a scale-out clone started from the committed replica,
 * which stays the backup), and retire (scale-down). An activated replica is protected back towards the node it came
 * from when the settings say so; otherwise it runs here unprotected until protected again.
 */
final class Activation {

    private static final Logger LOG = LoggerFactory.getLogger(Activation.class);
    /** How long the SWITCHOVER alarm waits for the count of the frames delivered from the old copy. */
    private static final long RELAY_WAIT_MS = 1000;

    private final Engine engine;
    private final HelperRegistry helpers;
    private final DomainRoles roles;
    private final FailoverCoordinator failovers;
    private final Primaries primaries;

    /** @param engine the node's settings and alarms */
    Activation(Engine engine, HelperRegistry helpers, DomainRoles roles, FailoverCoordinator failovers,
            Primaries primaries) {
        this.engine = engine;
        this.helpers = helpers;
        this.roles = roles;
        this.failovers = failovers;
        this.primaries = primaries;
    }

    /**
     * The operator's failover. With a witness it takes the domain's lease first and refuses while another node holds
     * it: that node is alive as far as the witness knows, and activating here would run two copies.
     */
    ProtectionStatus failover(DomainId domain) throws Exception {
        BackupReplica b = roles.replicas.get(domain);
        if (b == null) {
            throw new IllegalArgumentException("this node holds no replica of " + domain);
        }
        Witness w = helpers.witness();
        Witness.Lease lease = null;
        if (w != null) {
            Optional<Witness.Lease> taken = w.tryAcquire(domain.toString(), engine.settings().nodeId());
            if (taken.isEmpty()) {
                throw new IllegalStateException("the witness (" + w.describe() + ") says "
                        + w.holder(domain.toString()).orElse("another node") + " holds the lease of " + domain
                        + ": its primary is alive; stop it there (romulus:unprotect) before failing over");
            }
            lease = taken.get();
        }
        String detail;
        try {
            detail = activate(domain, lease).detail();
        } catch (Exception e) {
            if (lease != null) {
                lease.close();
            }
            throw e;
        }
        failovers.forget(domain);
        engine.alarms().raiseAsked(Alarm.Kind.FAILOVER, domain, "replica activated here by the operator"
                + (detail.isEmpty() ? "" : " (" + detail + ")") + "; the domain runs on this node now (romulus:status shows whether it is protected back towards the node it came "
                + "from)");
        return b.status();
    }

    /**
     * Planned switchover, on the backup: the primary stopped its copy at checkpoint {@code epoch} and told this node
     * to run the domain from it (the old primary gave up the witness's lease before it did). The replica is activated
     * paused where the binding can, its dirty log started and its output held before it runs, and it is protected
     * back towards the old primary, which resumes the replica it kept of {@code epoch}: no full copy.
     */
    void takeOver(DomainId id, long epoch) {
        BackupReplica b = roles.replicas.get(id);
        if (b == null) {
            LOG.error("{} was handed over to this node, which holds no replica of it", id);
            return;
        }
        long start = System.nanoTime();
        Witness.Lease lease = null;
        PreOpenedStream stream = null;
        try {
            String lineage = b.lineage();
            String back = b.returnAddress();
            InetSocketAddress peer = ProtectRequest.parsePeer(back);
            HandOverTimeline timeline = new HandOverTimeline(id, epoch, start);
            // the stream back to the old primary, opened at "prepare": it is up, or comes up beside the activation
            stream = b.takeStreamBack();
            if (stream != null) {
                stream.timeline(timeline);
            }
            lease = switchoverLease(id);
            BackupReplica.Activated running = b.activate(true);
            timeline.mark(running.paused() ? "activated paused" : "activated running");
            CompletableFuture<Integer> delivery = deliverRelayed(id, b, running.domain(), timeline);
            primaries.protectSwitchedOver(id, running, lease, b, peer, lineage, epoch, timeline, stream);
            String detail = running.domain().activationDetail();
            int delivered = delivered(delivery);
            engine.alarms().raise(Alarm.Kind.SWITCHOVER, id, "switched over to this node at checkpoint " + epoch
                    + ": it runs here " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms after the "
                    + "hand-over" + (running.paused() ? ", protected back towards " + back + ", which resumes its "
                            + "replica" : ", unprotected until " + back + " has a full copy")
                    + (detail.isEmpty() ? "" : " (" + detail + ")")
                    + (delivered == 0 ? "" : "; " + delivered + " frames that reached the old copy delivered"));
        } catch (Exception e) {
            if (lease != null) {
                lease.close();
            }
            if (stream != null) {
                stream.discard("taking the domain over failed");
            }
            LOG.error("SWITCHOVER: taking {} over at checkpoint {} failed", id, epoch, e);
            engine.alarms().raise(Alarm.Kind.FAILED, id, "the switchover of " + id + " to this node failed after its "
                    + "old primary stopped: " + e.getMessage() + "; the old primary keeps a replica of checkpoint "
                    + epoch + ": run romulus:failover " + id + " there");
        }
    }

    /**
     * Gives {@code domain}, just activated from {@code b} (paused, they wait in its NICs until it runs), the frames
     * that reached the old primary's copy while it was paused for the switchover, on a thread of its own: the
     * activation goes on meanwhile, and the domain's run waits for none of it. Completes with how many it took.
     */
    private static CompletableFuture<Integer> deliverRelayed(DomainId id, BackupReplica b, ProtectedDomain domain,
            HandOverTimeline timeline) {
        List<InboundFrame> frames = b.takeRelayedFrames();
        CompletableFuture<Integer> delivered = new CompletableFuture<>();
        if (frames.isEmpty()) {
            delivered.complete(0);
            return delivered;
        }
        Thread t = new Thread(() -> {
            int n = 0;
            try {
                n = domain.deliverInbound(frames);
            } catch (RuntimeException e) {
                LOG.warn("{}: delivering the frames that reached the old primary's copy failed", id, e);
            }
            timeline.mark(n + " of " + frames.size() + " frames of the old copy delivered");
            LOG.info("{}: {} of the {} frames that reached the old primary's paused copy delivered", id, n,
                    frames.size());
            delivered.complete(n);
        }, "romulus-relay");
        t.setDaemon(true);
        t.start();
        return delivered;
    }

    /** How many frames {@code delivery} gave the domain, for the alarm; waits a moment at most (0 if not done). */
    private static int delivered(CompletableFuture<Integer> delivery) {
        try {
            return delivery.get(RELAY_WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        } catch (ExecutionException | TimeoutException e) {
            return 0;
        }
    }

    /**
     * The witness's lease for a domain handed over to this node, or null without a witness. The old primary gave it
     * up before the hand-over: a short wait covers the witness's own delay in seeing that.
     */
    private Witness.Lease switchoverLease(DomainId id) throws Exception {
        Witness w = helpers.witness();
        if (w == null) {
            return null;
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            Optional<Witness.Lease> taken = w.tryAcquire(id.toString(), engine.settings().nodeId());
            if (taken.isPresent()) {
                return taken.get();
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the witness (" + w.describe() + ") says "
                        + w.holder(id.toString()).orElse("another node") + " still holds the lease of " + id);
            }
            Thread.sleep(20);
        }
    }

    /** Whether this node holds a replica of {@code id} with a committed checkpoint, not yet activated. */
    boolean canActivate(DomainId id) {
        BackupReplica b = roles.replicas.get(id);
        return b != null && !b.isActivated() && b.committedEpoch() >= 0;
    }

    /**
     * How an activated replica came to run: its binding's account ({@link ProtectedDomain#activationDetail()}, or
     * empty) and when its first frame left it ({@link ProtectedDomain#firstFrameAfterActivation()}).
     */
    record Outcome(String detail, CompletionStage<OptionalLong> firstFrame) {
    }

    /** Activates the replica of {@code id}; the lease (if any) goes with the domain. */
    Outcome activate(DomainId id, Witness.Lease lease) throws Exception {
        BackupReplica b = roles.replicas.get(id);
        if (b == null) {
            throw new IllegalArgumentException("this node holds no replica of " + id);
        }
        BackupReplica.Activated activated = b.activate(false);
        ProtectedDomain running = activated.domain();
        Outcome outcome = new Outcome(running.activationDetail(), running.firstFrameAfterActivation());
        String back = b.returnAddress();
        if (!engine.settings().reprotect() || back == null) {
            activated.closeOutputs("the domain runs here unprotected");
            roles.activated.put(id, new DomainRoles.Activated(running, lease));
            return outcome;
        }
        try {
            primaries.protectBack(id, activated, lease, b, ProtectRequest.parsePeer(back));
        } catch (OutputBufferException | RuntimeException e) {
            activated.closeOutputs("protecting the domain back failed");
            LOG.error("{} runs here, but protecting it back towards {} failed: {}; it runs without a backup until "
                    + "romulus:protect gives it one", id, back, e.getMessage());
            roles.activated.put(id, new DomainRoles.Activated(running, lease));
        }
        return outcome;
    }

    /**
     * Scale-out: the clone starts here from this node's replica of {@code domain} and is protected like a replica
     * activated here, towards {@code backup} or else the node the replica's primary runs on.
     */
    ProtectionStatus fork(DomainId domain, DomainId clone, Map<String, String> overrides, InetSocketAddress backup)
            throws Exception {
        BackupReplica b = roles.replicas.get(domain);
        if (b == null || b.isActivated()) {
            throw new IllegalArgumentException("this node holds no replica of " + domain + ": a clone starts from a "
                    + "committed checkpoint, so it is made on the node that is " + domain + "'s backup");
        }
        if (!clone.binding().equals(domain.binding())) {
            throw new IllegalArgumentException("a clone of " + domain + " runs under the same binding, not as "
                    + clone);
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
        CheckpointTransport t = helpers.transport();
        if (t != null && isThisNode(peer, t.listenAddress())) {
            throw new IllegalArgumentException("the backup of " + clone + " must be another node than this one, which "
                    + "runs it (" + PrimaryProtection.hostPort(peer) + ")");
        }
        synchronized (roles.lock) {
            if (roles.primaries.containsKey(clone) || roles.replicas.containsKey(clone)
                    || roles.activated.containsKey(clone)) {
                throw new IllegalStateException(clone + " is already protected, or runs, on this node");
            }
            Witness.Lease lease = helpers.acquireLease(clone, engine.settings().nodeId());
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
            roles.activated.put(clone, new DomainRoles.Activated(running, lease));
            Map<String, String> options = new LinkedHashMap<>(b.options());
            options.putAll(overrides);
            try {
                ProtectionStatus s = primaries.protect(new ProtectRequest(clone, peer, 0, options));
                LOG.info("{} started from {}'s replica (committed checkpoint {} or a later one); protected towards {}",
                        clone, domain, from, PrimaryProtection.hostPort(peer));
                return s;
            } catch (Exception e) {
                DomainRoles.Activated a = roles.activated.remove(clone);
                if (a != null) {
                    destroyQuietly(a.domain(), clone);
                    a.closeLease();
                }
                throw e;
            }
        }
    }

    private static boolean isThisNode(InetSocketAddress peer, InetSocketAddress local) {
        if (local == null || peer.getPort() != local.getPort()) {
            return false;
        }
        InetSocketAddress p = Primaries.resolved(peer);
        if (p.isUnresolved() || p.getAddress() == null) {
            return false;
        }
        return p.getAddress().equals(local.getAddress()) || (p.getAddress().isLoopbackAddress()
                && local.getAddress() != null && local.getAddress().isAnyLocalAddress());
    }

    private static void destroyQuietly(ProtectedDomain d, DomainId id) {
        try {
            d.destroy();
        } catch (HypervisorException | RuntimeException e) {
            LOG.warn("Stopping {} failed", id, e);
        }
    }

    /** Scale-down: protection ends (the backup drops its replica) and the domain stops. */
    void retire(DomainId domain) throws Exception {
        PrimaryProtection p = roles.primaries.get(domain);
        if (p == null) {
            DomainRoles.Activated running = roles.activated.remove(domain);
            if (running == null) {
                throw new IllegalArgumentException(domain + " does not run from this node"
                        + (roles.replicas.containsKey(domain) ? " (this node holds its replica; its primary retires "
                                + "it)" : ""));
            }
            destroyQuietly(running.domain(), domain);
            running.closeLease();
            LOG.info("{} retired: it ran here unprotected and is stopped", domain);
            return;
        }
        p.stop(true);
        roles.primaries.remove(domain, p);
    }
}
