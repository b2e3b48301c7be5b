package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor.Accepted;
import io.romulus.api.transport.ReplicaSink;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backup side of the engine: it answers a primary's HELLO. It checks that this node may become the domain's backup
 * (the domain is not activated or run here, the engine is not handing over, the binding and a replicator for each
 * announced disk are installed), then either resumes the committed replica (same lineage, no initial copy) or builds a
 * new replica and its disks for a new stream. Replicas it keeps are watched by the failover coordinator, and dropped
 * when their primary ends protection.
 */
final class ReplicaIntake {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicaIntake.class);

    private final Supplier<EngineSettings> settings;
    private final HelperRegistry helpers;
    private final DomainRoles roles;
    private final FailoverCoordinator failovers;
    private final Alarms alarms;
    private final long stagingSegmentBytes;

    /** @param stagingSegmentBytes the size of a segment of a stream's staging ({@link StagingBuffer}) */
    ReplicaIntake(Supplier<EngineSettings> settings, HelperRegistry helpers, DomainRoles roles,
            FailoverCoordinator failovers, Alarms alarms, long stagingSegmentBytes) {
        this.stagingSegmentBytes = stagingSegmentBytes;
        this.settings = settings;
        this.helpers = helpers;
        this.roles = roles;
        this.failovers = failovers;
        this.alarms = alarms;
    }

    /**
     * Answers a primary's HELLO, waiting for an answer held by a switchover under way ({@link #acceptLater}); for
     * callers that may wait, which the transport's threads may not.
     */
    Accepted accept(Hello hello, EngineHandOver handOver) throws CheckpointException {
        try {
            return acceptLater(hello, handOver).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException("interrupted while the answer to the HELLO of " + hello.domain()
                    + " was held", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof CheckpointException c ? c
                    : new CheckpointException(String.valueOf(e.getCause().getMessage()), e.getCause());
        }
    }

    /**
     * Answers a primary's HELLO; {@code handOver} says whether the engine is stopping or still taking over. The
     * answer is given at once, except to a switchover's stream back: while this node hands the domain over to the
     * node asking, the answer waits until this node stopped its copy and keeps its replica as that node's backup, and
     * is then given on a thread of its own, or refused when the switchover aborts ({@link #whenHandedOver}).
     */
    CompletableFuture<Accepted> acceptLater(Hello hello, EngineHandOver handOver) {
        try {
            DomainId id = domainOf(hello);
            PrimaryProtection here = roles.primaries.get(id);
            // before its status, which waits for the domain that a switchover under way holds until its end
            CompletableFuture<Boolean> handing = here == null || hello.nodeId().equals(settings.get().nodeId())
                    ? null : here.handingOverTo(hello.nodeId());
            if (handing == null) {
                return CompletableFuture.completedFuture(acceptNow(hello, handOver));
            }
            // a switchover's backup opened its stream back at "prepare": it attaches once this node stopped its copy
            // and keeps its replica as that node's backup, and not while this node is the primary
            return whenHandedOver(id, hello.nodeId(), handing).thenCompose(kept -> acceptLater(hello, handOver));
        } catch (CheckpointException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static DomainId domainOf(Hello hello) throws CheckpointException {
        try {
            return DomainId.parse(hello.domain());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException("bad domain in HELLO: " + e.getMessage());
        }
    }

    /** {@link #acceptLater}'s answer when no switchover holds it. */
    private Accepted acceptNow(Hello hello, EngineHandOver handOver) throws CheckpointException {
        DomainId id = domainOf(hello);
        String nodeId = settings.get().nodeId();
        if (hello.nodeId().equals(nodeId) && roles.activated.containsKey(id)) {
            // not an old primary coming back: answering "taken over" would make this node fence its own domain
            throw new CheckpointException("the stream of " + id + " comes from this node itself (" + nodeId + "), "
                    + "which runs the domain: its backup's address points back at this node, or two nodes share "
                    + "a node id");
        }
        if (roles.activated.containsKey(id)) {
            announceAgain(id);
            throw new DomainTakenOverException(id + " was activated on " + nodeId + " and runs there now");
        }
        if (handOver.isClosed()) {
            throw new CheckpointException("the engine of " + nodeId + " is stopping (a bundle update or a "
                    + "shutdown); try again");
        }
        if (handOver.awaitsReplica(id)) {
            // answering now would start a new replica: the primary retries until this one is taken over
            throw new CheckpointException("the replica of " + id + " is being taken over from the previous engine on "
                    + nodeId + " (waiting for its '" + id.binding() + "' binding); try again");
        }
        PrimaryProtection here = roles.primaries.get(id);
        if (here != null && !hello.nodeId().equals(nodeId)) {
            ProtectionState st = here.state();
            if (st != ProtectionState.FENCED && st != ProtectionState.STOPPED && st != ProtectionState.FAILED) {
                if (here.takenOver()) {
                    // this node took the domain over: the node asking is an old primary that must stop its copy
                    announceAgain(id);
                    throw new DomainTakenOverException(id + " was taken over by " + nodeId + " and runs there now");
                }
                throw new CheckpointException(id + " runs as primary on this node; refusing to become its backup");
            }
            // this node lost the domain earlier; the node that runs it now makes this one its backup
            roles.primaries.remove(id, here);
        }
        Hypervisor hypervisor = helpers.hypervisor(hello.binding());
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
        List<DiskReplicator> replicators = replicators(id, disks);
        // options starting with romulus. are the engine's (where the primary's stream listens, the disks); the rest
        // the binding's
        Map<String, String> bindingOptions = new LinkedHashMap<>();
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
        BackupReplica existing = roles.replicas.get(id);
        if (existing != null && existing.awaitsBinding()) {
            // the binding is back (or coming back) but has not adopted the replica yet: answering now would resume
            // nothing and start a second replica with a full copy; the primary retries until it is adopted (or dropped)
            throw new CheckpointException("the replica of " + id + " waits for the new version of its '"
                    + id.binding() + "' binding to adopt it (a bundle update on " + nodeId + "); try again");
        }
        if (resume != null && existing != null) {
            Optional<long[]> range = resumeRange(resume);
            ReplicaSink sink = range.isEmpty() ? null : existing.resumeStream(hello.nodeId(), lineage,
                    range.get()[0], range.get()[1], disks, bindingOptions, returnAddress);
            if (sink != null) {
                if (!existing.awaitsNewPrimary()) {
                    failovers.watch(id, hello.nodeId());
                }
                // else a switchover's new primary opened this stream at "prepare", before it had "go": it is watched
                // from its first committed checkpoint on (sent only once it runs the domain), so that this node never
                // convicts a node that did not take the domain over, for a "go" lost on the way (I5)
                long from = existing.committedEpoch();
                return new Accepted(sink, new HelloReply(nodeId, from, from));
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
        BackupReplica backup = roles.replicas.computeIfAbsent(id, this::newReplica);
        long previous = backup.committedEpoch();
        var sink = backup.newStream(hello.nodeId(), lineage, replica, replicaDisks, bindingOptions, returnAddress);
        failovers.watch(id, hello.nodeId());
        LOG.info("Receiving checkpoints of {} from {} ({} MiB{})", id, hello.nodeId(), hello.memoryBytes() >> 20,
                disks.isEmpty() ? "" : ", disks " + String.join(", ", disks.stream().map(GuestDisk::name).toList()));
        return new Accepted(sink, new HelloReply(nodeId, previous));
    }

    /** The replicator of each announced disk, in order; throws when a kind has none here. */
    private List<DiskReplicator> replicators(DomainId id, List<GuestDisk> disks) throws CheckpointException {
        List<DiskReplicator> replicators = new ArrayList<>();
        for (GuestDisk disk : disks) {
            DiskReplicator r = helpers.diskReplicatorOfKind(disk.kind());
            if (r == null) {
                List<String> kinds = helpers.diskKinds();
                throw new CheckpointException("this node has no disk replicator for disk " + disk.name() + " (kind "
                        + disk.kind() + ") of " + id + "; installed kinds: "
                        + (kinds.isEmpty() ? "none" : String.join(", ", kinds)));
            }
            replicators.add(r);
        }
        return replicators;
    }

    /** {@code A-C} of the resume option, or empty when it is malformed. */
    private static Optional<long[]> resumeRange(String value) {
        int dash = value.indexOf('-');
        try {
            long from = Long.parseLong(value.substring(0, dash));
            long to = Long.parseLong(value.substring(dash + 1));
            return from >= 0 && to >= from ? Optional.of(new long[] {from, to}) : Optional.empty();
        } catch (IndexOutOfBoundsException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private BackupReplica newReplica(DomainId id) {
        return new BackupReplica(id, this::drop, () -> committed(id), () -> plannedStop(id),
                () -> announceAgain(id), why -> alarms.raise(Alarm.Kind.FAILED, id, why),
                epoch -> failovers.handedOver(id, epoch), helpers::attachOutput, this::openStreamBack,
                stagingSegmentBytes);
    }

    /**
     * Opens the stream back from this node to the primary of {@code b}, which a switchover prepared at checkpoint
     * {@code epoch} makes this node's backup, with the HELLO the protection's first attempt will send (resuming the
     * replica the old primary keeps of {@code epoch}); returns null where that HELLO cannot be told ahead (disks, no
     * transport, an address that does not resolve).
     */
    private PreOpenedStream openStreamBack(BackupReplica b, long epoch) {
        CheckpointTransport t = helpers.transport();
        ReplicaSpec spec = b.specWithoutDisks();
        String lineage = b.lineage();
        String back = b.returnAddress();
        if (t == null || spec == null || lineage == null || back == null) {
            return null;
        }
        InetSocketAddress peer;
        try {
            peer = ProtectRequest.parsePeer(back);
        } catch (IllegalArgumentException e) {
            return null;
        }
        InetSocketAddress target = new InetSocketAddress(peer.getHostString(), peer.getPort());
        if (target.isUnresolved()) {
            return null;
        }
        Hello hello = BackupLink.hello(settings.get().nodeId(), b.id(), spec.memoryBytes(), spec.pageSize(),
                b.options(), List.of(), lineage, new long[] {epoch, epoch}, target, t);
        return PreOpenedStream.open(t, target, hello, b.id());
    }

    /**
     * Keeps the replica the previous engine handed over as {@code h}, which its binding adopted as {@code adopted};
     * returns false when this node holds a replica of the domain already.
     */
    boolean keepRestored(BackupReplica.HandedOver h, Replica adopted) {
        DomainId id = h.id();
        BackupReplica b = ReplicaHandOver.restored(h, adopted, newReplica(id));
        if (roles.replicas.putIfAbsent(id, b) != null) {
            return false;
        }
        failovers.watch(id, h.primaryNode());
        return true;
    }

    /**
     * A switchover handed the domain this node ran to {@code h.primaryNode()}: this node keeps {@code kept}, its
     * stopped domain's image at {@code h.committedEpoch()}, as the replica the new primary resumes (null when the
     * binding could not keep it: the new primary then copies the domain whole), with {@code disks}, this node's
     * copies of the domain's disks at the same checkpoint, so that the new primary resumes the disks too. The new
     * primary is watched once its stream arrives, not before: it does not send heartbeats until it runs the domain.
     */
    void keepSwitchedOver(BackupReplica.HandedOver h, Replica kept, List<BackupReplica.ReplicaDisk> disks) {
        DomainId id = h.id();
        BackupReplica b = ReplicaHandOver.restored(h, kept, newReplica(id));
        synchronized (b.lock) {
            b.committedDisks = List.copyOf(disks);
        }
        b.show(ProtectionState.STANDBY, "switched over to " + h.primaryNode() + " at checkpoint "
                + h.committedEpoch() + "; waiting for it to resume this replica as its backup");
        b.awaitNewPrimary();
        BackupReplica old = roles.replicas.put(id, b);
        if (old != null) {
            old.close();
        }
    }

    /**
     * The replica of {@code id} committed a checkpoint: its primary is alive. A switchover's new primary is watched
     * from its first one on.
     */
    private void committed(DomainId id) {
        BackupReplica b = roles.replicas.get(id);
        if (b != null && b.takeAwaitingNewPrimary()) {
            failovers.watch(id, b.primaryNode);
        }
        failovers.heard(id);
    }

    /**
     * Completes, on a thread of its own, once the switchover of {@code id} to {@code node}, under way on this node,
     * kept this node's replica as that node's backup; exceptionally when it aborted, or took longer than a switchover
     * may (the stream is then refused, and closed on both sides). Nothing waits meanwhile: the future that
     * {@code handing} completes, on the epoch loop's thread, as it stops this node's copy, only starts the thread,
     * and "go" leaves beside it.
     */
    private CompletableFuture<Void> whenHandedOver(DomainId id, String node, CompletableFuture<Boolean> handing) {
        long waitMs = 3 * PrimaryProtection.switchoverTimeoutMs(settings.get());
        LOG.debug("{}: the answer to the stream back from {} is held until the switchover to it ends (at most {} ms)",
                id, node, waitMs);
        Executor ownThread = task -> {
            Thread t = new Thread(task, "romulus-stream-back-" + id);
            t.setDaemon(true);
            t.start();
        };
        return handing.copy().completeOnTimeout(false, waitMs, TimeUnit.MILLISECONDS)
                .handleAsync((kept, failure) -> {
                    if (!Boolean.TRUE.equals(kept)) {
                        throw new CompletionException(new CheckpointException("the switchover of " + id + " to "
                                + node + " did not happen: this node runs the domain on as its primary"));
                    }
                    return null;
                }, ownThread);
    }

    private void plannedStop(DomainId id) {
        failovers.grace(id, settings.get().handoverGraceMs());
    }

    /** Drops {@code b} if it is still this node's replica of its domain. */
    private void drop(BackupReplica b) {
        if (roles.replicas.remove(b.id(), b)) {
            failovers.forget(b.id());
            b.close();
        }
    }

    /** The binding of {@code h} was updated: its replicas waiting for it are adopted by the new version. */
    void bindingArrived(Hypervisor h) {
        for (BackupReplica b : roles.replicas.values()) {
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
    }

    /** The binding {@code binding} went away: its replicas cut their streams and wait for its next version. */
    void bindingGone(String binding) {
        for (BackupReplica b : roles.replicas.values()) {
            if (b.binding().equals(binding)) {
                b.bindingGone();
            }
        }
    }

    /**
     * An old primary of {@code id}, which runs here now, is told it lost the domain and fences itself: the domain's
     * addresses are announced again from here, so that a frame its copy sent before it stopped (an ARP, which output
     * buffering does not hold) does not keep the network sending the guest's traffic there.
     */
    void announceAgain(DomainId id) {
        try {
            DomainRoles.Activated a = roles.activated.get(id);
            PrimaryProtection p = roles.primaries.get(id);
            if (a != null) {
                a.domain().announce();
            } else if (p != null) {
                p.announce();
            } else {
                return;
            }
            LOG.info("{} announced again from here: its old primary is told it lost the domain and fences itself", id);
        } catch (HypervisorException | RuntimeException e) {
            LOG.warn("Announcing {} again after fencing its old primary failed: {}", id, e.getMessage());
        }
    }
}
