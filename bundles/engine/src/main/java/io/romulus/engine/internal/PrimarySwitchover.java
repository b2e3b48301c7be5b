package io.romulus.engine.internal;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.transport.CheckpointException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary's side of a planned switchover, on the epoch loop's thread, right after the loop took the final
 * checkpoint N with the domain left paused (ARCHITECTURE.md section 6, "Planned switchover").
 *
 * <ol>
 * <li>Wait for ACK(N): output stays held until it comes (I1); N is then the backup's committed replica. All that is
 * held then leaves (it was produced before the final pause, so N has it), before the next step may move the domain's
 * addresses away from this host.</li>
 * <li>Ask the backup whether it can activate from exactly N (HANDOVER "prepare"); it answers "ready" or "refused".
 * Meanwhile it may prepare the activation: move the domain's addresses to its host, where clients' packets wait for
 * the domain instead of reaching this paused copy, and load N's device state into its standby. It answers "ready"
 * only once the addresses moved: until then what reaches this host is kept by this copy alone, which must not stop
 * before.</li>
 * <li>Point of no return: this node's copy stops for good: the domain stops and its memory image is kept as a
 * replica of the same lineage at N. The witness's lease is given back, and the replica takes the place of the
 * primary protection.</li>
 * <li>Only then HANDOVER "go" is sent, the last record of the stream: the backup activates from N. The records of a
 * stream arrive in order, so the backup cannot run the domain before this node stopped it: I5 holds without a
 * witness, and with one the lease is free before the backup asks for it. The heartbeats stop and the (empty) output
 * buffers close after it.</li>
 * </ol>
 * Before step 3 anything that fails (no ACK in time, a refusal, no answer, the link dropping) aborts: output is held
 * again, the domain resumes here, still protected, its addresses are announced here again, and a SWITCHOVER alarm
 * says why. The backup, which never got "go", keeps its
 * replica and drops the preparation with the next checkpoint.
 *
 * <p>After "go" the new primary protects the domain back towards this node, which resumes its replica: the new
 * primary's first checkpoint carries the pages written since N, and no full copy travels.
 */
final class PrimarySwitchover {

    private static final Logger LOG = LoggerFactory.getLogger(PrimarySwitchover.class);

    /** One operator's request; completed with what happened, or exceptionally with why it did not. */
    static final class Request {
        final CompletableFuture<String> result = new CompletableFuture<>();
        final long askedNanos = System.nanoTime();
    }

    private final DomainId id;
    private final String lineage;
    private final Map<String, String> options;
    private final DomainInfo info;
    private final long timeoutMs;
    private final DomainHandle domain;
    private final OutputCommit outputs;
    private final UnackedCheckpoints ledger;
    private final ReleaseGuard guard;
    private final BackupHeartbeats heartbeats;
    private final PrimaryStatus status;
    private final PrimaryProtection.Node node;
    private final LoopSignal signal;
    private final DiskCheckpoints disks;
    /**
     * Output passes, and the backup was (or is about to be) asked to prepare the hand-over, so it may have moved the
     * domain's addresses to its host ({@link io.romulus.api.hypervisor.Replica#prepareActivation}): an abort holds
     * output again and announces the addresses here again. The loop's thread only.
     */
    private boolean prepared;
    /** An operator's switchover, waiting for the loop's next checkpoint. */
    private final AtomicReference<Request> pending = new AtomicReference<>();
    /**
     * The hand-over under way since "prepare" was sent, or null: the node it goes to, and whether this node kept its
     * replica as that node's backup (true) or the switchover aborted (false). The backup opens its stream back at
     * "prepare"; this node answers its HELLO only once this completes ({@link #handingOverTo}).
     */
    private volatile HandingOver handingOver;

    /** A hand-over to {@code node} under way; {@code kept} completes as {@link #handingOver} says. */
    private record HandingOver(String node, CompletableFuture<Boolean> kept) {
    }

    PrimarySwitchover(DomainId id, String lineage, Map<String, String> options, DomainInfo info, long timeoutMs,
            DomainHandle domain, OutputCommit outputs, UnackedCheckpoints ledger, ReleaseGuard guard,
            BackupHeartbeats heartbeats, PrimaryStatus status, PrimaryProtection.Node node, LoopSignal signal,
            DiskCheckpoints disks) {
        this.disks = disks;
        this.id = id;
        this.lineage = lineage;
        this.options = Map.copyOf(options);
        this.info = info;
        this.timeoutMs = timeoutMs;
        this.domain = domain;
        this.outputs = outputs;
        this.ledger = ledger;
        this.guard = guard;
        this.heartbeats = heartbeats;
        this.status = status;
        this.node = node;
        this.signal = signal;
    }

    /**
     * Asks for a switchover at the loop's next checkpoint; the future completes with what happened, or exceptionally
     * with why it did not.
     */
    CompletableFuture<String> request() {
        Request r = new Request();
        if (!pending.compareAndSet(null, r)) {
            throw new IllegalStateException("a switchover of " + id + " is under way already");
        }
        signal.signal();
        return r.result;
    }

    /**
     * Whether a hand-over to {@code node} is under way: then the future completes with true once this node stopped
     * its copy and keeps its replica as {@code node}'s backup (a stream from {@code node} may attach to it then), or
     * with false when the switchover aborted; null when none is under way to that node.
     */
    CompletableFuture<Boolean> handingOverTo(String node) {
        HandingOver h = handingOver;
        return h != null && h.node().equals(node) ? h.kept() : null;
    }

    /** Whether an operator's switchover waits for the loop: the epoch under way ends at once for its final checkpoint. */
    boolean requested() {
        return pending.get() != null;
    }

    /** The switchover the loop is to do at this checkpoint, or null; the loop's thread. */
    Request take() {
        return pending.getAndSet(null);
    }

    /** The loop ended: a switchover still waiting for it does not happen. */
    void ended() {
        endHandingOver(false);
        Request left = pending.getAndSet(null);
        if (left != null) {
            left.result.completeExceptionally(new IllegalStateException("the protection of " + id + " ended ("
                    + status.state() + ") before the switchover could start"));
        }
    }

    /**
     * Hands the domain, paused at checkpoint {@code epoch} (sent, not yet acknowledged) and locked, over to the
     * backup on {@code s}. Returns true when it was handed over (the loop ends, the stream is closed), false when the
     * switchover aborted (the domain runs again). Throws when the stream broke before the point of no return, after
     * resuming the domain.
     */
    boolean handOver(Request req, PrimaryStream s, ProtectedDomain d, long epoch)
            throws InterruptedException, LinkLostException {
        String backupNode = s.channel.peer().nodeId();
        long checkpointed = System.nanoTime();
        long acked;
        prepared = false;
        try {
            if (!await(s, () -> ledger.lastAcked() >= epoch)) {
                return abort(req, d, "the backup did not acknowledge the final checkpoint " + epoch + " within "
                        + timeoutMs + " ms");
            }
            acked = System.nanoTime();
            // everything held was produced before the final pause (the domain is paused, and N was sealed once it
            // stopped): N, acknowledged, has it. It all leaves now (with what the host's stack still handed the buffer
            // after the seal, sent before the pause too), and before "prepare", which may move
            // the domain's addresses to the backup's host: a frame of this copy after that would point the network
            // back here (and what is still held when this copy stops would be lost with its interfaces). An abort
            // holds output again before the domain resumes (I1)
            outputs.pass();
            prepared = true;
            handingOver = new HandingOver(backupNode, new CompletableFuture<>());
            try {
                s.channel.prepareHandOver(epoch);
            } catch (CheckpointException e) {
                s.fail(e);
                throw new LinkLostException(e.getMessage(), e);
            }
            if (!await(s, () -> s.handOverAnswer(epoch) != null)) {
                return abort(req, d, "the backup " + backupNode + " did not answer the hand-over at checkpoint "
                        + epoch + " within " + timeoutMs + " ms");
            }
            String refusal = s.handOverAnswer(epoch);
            if (!refusal.isEmpty()) {
                return abort(req, d, "the backup " + backupNode + " cannot take the domain over: " + refusal);
            }
        } catch (LinkLostException e) {
            abort(req, d, "the link to the backup dropped: " + e.getMessage());
            throw e;
        }
        // the point of no return: this copy stops for good before "go" leaves (I5)
        long ready = System.nanoTime();
        Replica kept = stop(epoch);
        if (kept == null && domain.present()) {
            return abort(req, d, "this node could not stop its copy of the domain");
        }
        // what reached it since its final pause, which it never read, goes with "go": taken once it stopped (its
        // interfaces went with it; the backup had moved the domain's addresses before it said "ready")
        List<InboundFrame> inbound = d.takeInbound();
        guard.releaseLease();
        List<BackupReplica.ReplicaDisk> keptDisks = handOverDisks(epoch, kept != null);
        if (keptDisks == null && kept != null) {
            kept.close(); // its disks are not at the same checkpoint: protection back copies the domain whole
            kept = null;
        }
        node.keepAsBackup(new BackupReplica.HandedOver(id, lineage, epoch, backupNode, options, null,
                info.memoryBytes(), info.pageSize()), kept, keptDisks == null ? List.of() : keptDisks);
        // the stream back the backup opened at "prepare" may attach to the kept replica now: this node is no longer
        // the primary (the answer to its HELLO was held until here; a thread of its own sends it, beside "go")
        endHandingOver(true);
        long stopped = System.nanoTime();
        long blackoutMs = TimeUnit.NANOSECONDS.toMillis(stopped - req.askedNanos);
        String parts = "final checkpoint taken " + ms(checkpointed - req.askedNanos) + " ms after the request, acknowledged "
                + ms(acked - checkpointed) + " ms later, the backup ready " + ms(ready - acked) + " ms later, this copy "
                + "stopped " + ms(stopped - ready) + " ms later";
        try {
            s.channel.handOver(epoch, inbound);
        } catch (CheckpointException e) {
            // this node stopped; the backup, which never got "go", activates its replica of N when its failure
            // detector convicts this node (or romulus:failover there): the domain runs again from the same state
            String why = "switchover of " + id + " stopped this node's copy at checkpoint " + epoch + ", but the "
                    + "hand-over could not be sent to " + backupNode + " (" + e.getMessage() + "): it runs the domain "
                    + "once it convicts this node, or at once with romulus:failover " + id + " there";
            heartbeats.close();
            outputs.close(false);
            node.alarms().raise(Alarm.Kind.FAILED, id, why);
            req.result.completeExceptionally(new IllegalStateException(why));
            status.set(ProtectionState.STOPPED, why);
            return true;
        }
        long sent = System.nanoTime();
        // what no longer matters to the domain's run ends after "go": the heartbeats, the (empty) output buffers
        heartbeats.close();
        outputs.close(false);
        String done = id + " handed over to " + backupNode + " at checkpoint " + epoch + " (this node stopped its "
                + "copy " + blackoutMs + " ms after the request and is its backup now"
                + (kept == null ? "; the binding could not keep the memory image, so protection back copies the "
                        + "domain whole" : ", resuming from its replica without a full copy") + "; " + parts
                + ", the hand-over sent " + ms(sent - stopped) + " ms later"
                + (inbound.isEmpty() ? "" : " with " + inbound.size() + " frames that reached this copy while paused")
                + ")";
        status.set(ProtectionState.STOPPED, "switched over to " + backupNode + " at checkpoint "
                + epoch);
        LOG.info("SWITCHOVER: {}", done);
        req.result.complete(done);
        return true;
    }

    /**
     * Stops the paused domain for good, keeping its image as a replica at {@code epoch}; where the binding cannot,
     * destroys it (the new primary then copies it whole). Returns the replica, or null.
     */
    private Replica stop(long epoch) {
        try {
            return domain.keepAsReplica(new ReplicaSpec(id, info.memoryBytes(), info.pageSize(), options), epoch);
        } catch (HypervisorException | RuntimeException e) {
            LOG.warn("{}: the '{}' binding did not keep the stopped domain as a replica ({}); stopping it, and the "
                    + "new primary copies it whole", id, id.binding(), e.getMessage());
        }
        try {
            domain.destroyAndForget();
        } catch (HypervisorException | RuntimeException e) {
            LOG.error("{}: stopping the domain for the switchover failed", id, e);
        }
        return null;
    }

    /**
     * The domain's disks, stopped with it after checkpoint {@code epoch}, become the backup sides of the new primary's
     * stream, here, before "go" (DRBD: this node's resource is demoted before the new primary promotes its own, I5).
     * Returns them, or null when a disk could not be handed over (alarmed: the memory replica is then dropped too, and
     * the new primary copies the domain whole). Without a kept memory replica ({@code keep} false) they are closed.
     */
    private List<BackupReplica.ReplicaDisk> handOverDisks(long epoch, boolean keep) {
        if (disks.disks().isEmpty()) {
            return List.of();
        }
        List<BackupReplica.ReplicaDisk> kept;
        try {
            kept = disks.handOver(epoch);
        } catch (Exception e) {
            LOG.error("{}: handing its disks over at checkpoint {} failed", id, epoch, e);
            node.alarms().raise(Alarm.Kind.SWITCHOVER, id, "switchover of " + id + " at checkpoint " + epoch + ": "
                    + e.getMessage() + "; this node keeps no replica, so protection back starts with a full copy; "
                    + "should the new primary fail to activate its disk, the domain is down: release the disk here "
                    + "(DRBD: drbdadm secondary) and start the domain by hand");
            return null;
        }
        if (!keep) {
            kept.forEach(d -> d.backup().close());
            return null;
        }
        return kept;
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    /** Waits up to the timeout for {@code done}; throws when the stream breaks meanwhile. */
    private boolean await(PrimaryStream s, BooleanSupplier done) throws InterruptedException, LinkLostException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!done.getAsBoolean()) {
            s.check();
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            signal.awaitUnless(done, Math.min(left, TimeUnit.MILLISECONDS.toNanos(5)));
        }
        return true;
    }

    /** The hand-over under way ends: a stream back held meanwhile attaches ({@code kept}) or is refused. */
    private void endHandingOver(boolean kept) {
        HandingOver h = handingOver;
        handingOver = null;
        if (h != null) {
            h.kept().complete(kept);
        }
    }

    /** The switchover aborts: the domain runs on here, still protected; the alarm and the request say why. */
    private boolean abort(Request req, ProtectedDomain d, String why) {
        endHandingOver(false); // a stream back opened at "prepare" is refused: this node stays the primary
        String message = "switchover of " + id + " aborted: " + why + "; the domain runs on this node, still "
                + "protected";
        // never given to the domain here: it may have read some of them before its final pause; the senders
        // retransmit what it missed, as after any loss
        int dropped = d.takeInbound().size();
        if (dropped > 0) {
            LOG.info("{}: {} frames that reached the domain while it was paused for the switchover are dropped", id,
                    dropped);
        }
        if (prepared) {
            outputs.hold(); // before the domain runs again: its output waits for checkpoint N+1's ACK (I1)
        }
        try {
            d.resume();
        } catch (HypervisorException | RuntimeException e) {
            LOG.error("{}: resuming the domain after the aborted switchover failed", id, e);
            status.failed("resuming after an aborted switchover failed: " + e.getMessage());
            message = "switchover of " + id + " aborted: " + why + "; resuming the domain here failed: "
                    + e.getMessage();
        }
        if (prepared) {
            // the backup may have moved the domain's addresses to its host at "prepare": they come back here
            try {
                d.announce();
            } catch (HypervisorException | RuntimeException e) {
                LOG.warn("{}: announcing the domain here again after the aborted switchover failed: {}", id,
                        e.getMessage());
            }
        }
        LOG.warn("SWITCHOVER ABORTED: {}", message);
        node.alarms().raise(Alarm.Kind.SWITCHOVER, id, message);
        status.detail(message);
        req.result.completeExceptionally(new IllegalStateException(message));
        return false;
    }
}
