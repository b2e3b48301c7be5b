package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.function.Consumer;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.witness.Witness;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary side of one protected domain, as the engine sees it: it assembles the parts of a protection, starts its
 * {@link EpochLoop} (where ARCHITECTURE.md section 3 reads top to bottom), and passes the engine's events on to them.
 *
 * <p>The parts: {@link BackupLink} connects to the backup and resumes its replica, {@link InitialSync} copies the
 * domain whole when it cannot, {@link DiskCheckpoints} carries the disks' writes, {@link UnackedCheckpoints} keeps
 * what the backup has not acknowledged, {@link PrimaryStream} sends, {@link BackupAcks} passes the ACKs to the loop,
 * {@link OutputCommit} holds and releases output, {@link ReleaseGuard} decides when output may leave without a backup
 * and when this node is fenced, {@link BackupHeartbeats} lets the backup watch this node, {@link DomainHandle} lets
 * the binding be updated under the loop, {@link ProtectionTeardown} ends it, and {@link PrimaryStatus} reports it.
 *
 * <p>Helpers come and go with their bundles: while the binding is gone the loop takes no checkpoint (output stays
 * held) and the next binding adopts the domain; while an interface's output buffer is gone the kernel holds or drops
 * its output, and the next provider adopts the hold.
 */
final class PrimaryProtection {

    private static final Logger LOG = LoggerFactory.getLogger(PrimaryProtection.class);

    /**
     * The HELLO option that tells the backup where this node's checkpoint stream listens, {@code host:port}: after a
     * failover the backup protects the domain back towards it. Options starting with {@code romulus.} are the
     * engine's; they never reach the binding.
     */
    static final String RETURN_OPTION = "romulus.return";

    /**
     * The HELLO option naming the protection's lineage: one identity for the life of a protection on its primary,
     * across streams. A backup resumes only a replica of the same lineage.
     */
    static final String LINEAGE_OPTION = "romulus.lineage";

    /**
     * The HELLO option asking the backup to resume: {@code A-C}, the last checkpoint this node saw acknowledged and
     * the last it took. The backup resumes when its replica of the lineage committed an epoch in that range.
     */
    static final String RESUME_OPTION = "romulus.resume";

    /** What a protection needs from its engine; each may change while it runs (bundle updates). */
    interface Node {

        CheckpointTransport transport();

        FailureDetector detector();

        /** Reports that {@code consequence} follows from the node having no failure detector. */
        void noDetector(String consequence);

        Witness witness();

        Alarms alarms();

        /** The replicator for {@code disk}, or null while none can take it. */
        DiskReplicator diskReplicator(GuestDisk disk);

        /** Why no replicator takes {@code disk}. */
        String noDiskReplicator(GuestDisk disk);

        /** Attaches the best output buffer for {@code nic} (adopting a hold left by a previous one). */
        Output attachOutput(GuestInterface nic) throws OutputBufferException;

        /**
         * A switchover handed the domain to its backup: this node keeps {@code replica} (null when the binding could
         * not keep the image) as its replica of the domain, described by {@code state}, with {@code disks} (this
         * node's copies of the domain's disks, at the same checkpoint), in place of its primary protection, before the
         * backup is told to run the domain.
         */
        void keepAsBackup(BackupReplica.HandedOver state, Replica replica, List<BackupReplica.ReplicaDisk> disks);

        /** The size of a segment of a stream's staging ({@link StagingBuffer}). */
        long stagingSegmentBytes();
    }

    /** One guest interface's output buffer and the provider it came from; the buffer is null while none holds it. */
    static final class Output {

        final GuestInterface nic;
        // replaced on the engine's threads as providers come and go, read lock-free by the loop and the ACK thread
        volatile OutputBufferProvider provider;
        volatile OutputBuffer buffer;

        Output(GuestInterface nic, OutputBufferProvider provider, OutputBuffer buffer) {
            this.nic = nic;
            this.provider = provider;
            this.buffer = buffer;
        }

        void each(Consumer<OutputBuffer> action) {
            OutputBuffer b = buffer;
            if (b != null) {
                action.accept(b);
            }
        }
    }

    /** What a protection hands to the next engine, plain data only (ARCHITECTURE.md section 8). */
    record HandedOver(DomainId id, InetSocketAddress peer, InetSocketAddress heartbeat, int intervalMs,
            Map<String, String> options, boolean verify, String lineage, long nextEpoch, long lastAcked,
            long lastCheckpointed, boolean resumable, boolean passing, boolean takenOver,
            NavigableMap<Long, long[]> unackedPages) {
    }

    private final DomainId id;
    private final InetSocketAddress peer;
    private final InetSocketAddress heartbeat;
    private final Map<String, String> options;
    private final boolean verify;
    private final String lineage;
    private final boolean takenOver;
    private final Node node;
    private final DomainHandle domain;
    private final OutputCommit outputs;
    private final UnackedCheckpoints ledger = new UnackedCheckpoints();
    private final PrimaryStatus status;
    private final BackupHeartbeats heartbeats;
    private final EpochHistory history;
    private final LoopSignal signal = new LoopSignal();
    private final EpochLoop loop;
    private final DiskCheckpoints disks;
    private final PrimarySwitchover switchover;
    private final BackupLink link;

    /**
     * @param heartbeat where the backup's failure detector listens
     * @param lease     this node's lease of the domain from the witness, or null without a witness
     */
    PrimaryProtection(DomainId id, InetSocketAddress peer, InetSocketAddress heartbeat, int intervalMs,
            Map<String, String> options, boolean verify, EngineSettings settings, ProtectedDomain domain,
            List<Output> outputs, Node node, Witness.Lease lease) {
        this(id, peer, heartbeat, intervalMs, options, verify, settings, domain, outputs, node, lease, false);
    }

    /**
     * @param takenOver this node activated the domain as a backup: it starts UNPROTECTED (output passes) and waits
     *                  for its new backup, and a node that still thinks it is the primary is told it was taken over
     */
    PrimaryProtection(DomainId id, InetSocketAddress peer, InetSocketAddress heartbeat, int intervalMs,
            Map<String, String> options, boolean verify, EngineSettings settings, ProtectedDomain domain,
            List<Output> outputs, Node node, Witness.Lease lease, boolean takenOver) {
        this(id, peer, heartbeat, intervalMs, options, verify, settings, domain, outputs, node, lease, takenOver,
                UUID.randomUUID().toString(), null);
    }

    /** A protection handed over by a previous engine: it goes on where that one stopped. */
    PrimaryProtection(HandedOver h, EngineSettings settings, ProtectedDomain domain, List<Output> outputs, Node node,
            Witness.Lease lease) {
        this(h.id(), h.peer(), h.heartbeat(), h.intervalMs(), h.options(), h.verify(), settings, domain, outputs,
                node, lease, h.takenOver(), h.lineage(), h);
    }

    private PrimaryProtection(DomainId id, InetSocketAddress peer, InetSocketAddress heartbeat, int intervalMs,
            Map<String, String> options, boolean verify, EngineSettings settings, ProtectedDomain domain,
            List<Output> outputs, Node node, Witness.Lease lease, boolean takenOver, String lineage,
            HandedOver restored) {
        this.id = id;
        this.peer = peer;
        this.heartbeat = heartbeat;
        this.options = Map.copyOf(options);
        this.verify = verify;
        this.lineage = lineage;
        this.takenOver = takenOver;
        this.node = node;
        this.domain = new DomainHandle(id, domain);
        this.outputs = new OutputCommit(id, outputs);
        this.status = new PrimaryStatus(id, hostPort(peer), verify, intervalMs, settings.intervalPolicy(), node);
        this.heartbeats = new BackupHeartbeats(id, heartbeat, node);
        this.history = new EpochHistory(settings.historySize());
        if (takenOver) {
            this.outputs.pass();
            status.set(ProtectionState.UNPROTECTED, "UNPROTECTED: activated here after a failover; waiting for a "
                    + "backup at " + hostPort(peer));
        }
        if (restored != null) {
            restore(restored);
        }
        DiskCheckpoints disks = new DiskCheckpoints(id, domain.disks(), node, ledger);
        this.disks = disks;
        ReleaseGuard guard = new ReleaseGuard(id, settings.nodeId(), node, lease);
        this.switchover = new PrimarySwitchover(id, lineage, this.options, domain.info(),
                switchoverTimeoutMs(settings), this.domain, this.outputs, ledger, guard, heartbeats, status, node,
                signal, disks);
        BackupLink link = new BackupLink(id, peer, this.options, lineage, settings, domain.info(), node, ledger, disks,
                this.outputs, guard, heartbeats, status, history, signal, this::switchoverAskedByBackup);
        this.link = link;
        InitialSync initialSync = new InitialSync(id, domain.info(), settings.initialCopyBatch(), this.domain,
                ledger, disks, status, signal);
        ProtectionTeardown teardown = new ProtectionTeardown(id, this.domain, this.outputs, disks, guard, heartbeats,
                ledger, status);
        this.loop = new EpochLoop(id, settings, verify, this.domain, this.outputs, disks, ledger, status, heartbeats,
                history, link, initialSync, teardown, switchover, signal, restored != null);
    }

    /**
     * A switchover handed the domain to this node at checkpoint {@code epoch} of {@code lineage}: the protection goes
     * on from there towards the old primary, {@code peer}. When {@code resumable} (the domain was activated paused
     * and its dirty log started before it ran) the old primary resumes the replica it kept of that checkpoint and
     * output is held until it acknowledges; otherwise it gets a full copy and output passes meanwhile, as after a
     * failover.
     */
    static PrimaryProtection switchedOver(DomainId id, InetSocketAddress peer, InetSocketAddress heartbeat,
            Map<String, String> options, String lineage, long epoch, boolean resumable, EngineSettings settings,
            ProtectedDomain domain, List<Output> outputs, Node node, Witness.Lease lease, HandOverTimeline timeline,
            PreOpenedStream stream) {
        HandedOver h = new HandedOver(id, peer, heartbeat, settings.intervalMs(), options, false, lineage, epoch + 1,
                epoch, epoch, resumable, !resumable, true, new TreeMap<>());
        PrimaryProtection p = new PrimaryProtection(h, settings, domain, outputs, node, lease);
        p.loop.timeHandOver(timeline);
        if (stream != null) {
            p.link.preOpened(stream);
        }
        String noDisks = resumable ? p.disks.resume(epoch) : null;
        if (noDisks != null) {
            // the old primary's disks cannot be continued: it gets a full copy, and output passes meanwhile
            p.ledger.diskLogsEnded();
            p.outputs.pass();
            p.status.set(ProtectionState.UNPROTECTED, "UNPROTECTED: took the domain over at checkpoint " + epoch
                    + " (switchover), but its disks cannot continue from there (" + noDisks + "); the old primary at "
                    + hostPort(peer) + " gets a full copy");
        } else if (resumable) {
            p.status.set(ProtectionState.DEGRADED, "took the domain over at checkpoint " + epoch + " (switchover); "
                    + "output held until the old primary at " + hostPort(peer) + " resumes its replica as the backup");
        } else {
            p.status.set(ProtectionState.UNPROTECTED, "UNPROTECTED: took the domain over at checkpoint " + epoch
                    + " (switchover) without a dirty log from its first instruction; the old primary at "
                    + hostPort(peer) + " gets a full copy");
        }
        return p;
    }

    /** Goes on where the previous engine stopped: its checkpoints, and whether its output passed. */
    private void restore(HandedOver h) {
        ledger.restore(h);
        if (!h.passing() && outputs.passing()) {
            // taken over after a failover, and protected since: its output is held
            outputs.hold();
        }
        if (h.passing()) {
            outputs.pass();
            status.set(ProtectionState.UNPROTECTED, "UNPROTECTED: handed over by the previous engine without a "
                    + "backup; reconnecting to " + hostPort(peer));
        } else {
            status.set(ProtectionState.DEGRADED, "handed over by the previous engine; output held, resuming the "
                    + "stream to " + hostPort(peer));
        }
    }

    DomainId id() {
        return id;
    }

    /**
     * How long a switchover waits for the final checkpoint's ACK, and then for the backup's answer, before it aborts:
     * as long as a checkpoint may wait for its ACK before the link counts as lost.
     */
    static long switchoverTimeoutMs(EngineSettings settings) {
        return Math.max(1000, settings.linkTimeoutMs() / 3);
    }

    /**
     * Hands the domain over to the backup at the next checkpoint ({@link PrimarySwitchover}). Refused unless the
     * protection is PROTECTED: the backup must hold a committed replica to activate, and the stream must be up.
     */
    CompletableFuture<String> switchover() {
        ProtectionStatus s = status();
        if (s.state() != ProtectionState.PROTECTED) {
            throw new IllegalStateException(id + " is " + s.state() + (s.detail().isEmpty() ? "" : " (" + s.detail()
                    + ")") + ": a switchover needs it PROTECTED, with its backup holding a committed checkpoint");
        }
        if (!domain.present()) {
            throw new IllegalStateException(id + ": its '" + binding() + "' binding is away (bundle update); try again"
                    + " once it is back");
        }
        String noHandOver = disks.noHandOver();
        if (noHandOver != null) {
            throw new IllegalStateException(id + ": a switchover cannot hand its disks over (" + noHandOver + "); use "
                    + "romulus:failover on the backup after stopping the primary");
        }
        return switchover.request();
    }

    /** The backup's operator asked for a switchover there (on a transport thread): it goes as if asked here. */
    private void switchoverAskedByBackup() {
        LOG.info("{}: the backup asks for a switchover", id);
        try {
            Future<?> unused = switchover().whenComplete((done, failed) -> {
                if (failed != null) {
                    LOG.warn("{}: the switchover the backup asked for did not happen: {}", id, failed.getMessage());
                }
            });
        } catch (RuntimeException e) {
            LOG.warn("{}: the backup asked for a switchover, which cannot start: {}", id, e.getMessage());
            node.alarms().raise(Alarm.Kind.SWITCHOVER, id, "the backup asked for a "
                    + "switchover, which cannot start: " + e.getMessage());
        }
    }

    /**
     * Whether a switchover to {@code node} is under way ({@link PrimarySwitchover#handingOverTo}): the future says
     * whether this node keeps its replica as that node's backup once it completes; null when none is.
     */
    CompletableFuture<Boolean> handingOverTo(String node) {
        return switchover.handingOverTo(node);
    }

    /** Whether this node took the domain over from another (failover), rather than being given it. */
    boolean takenOver() {
        return takenOver;
    }

    /** Announces the domain's addresses again from here (see {@link ProtectedDomain#announce()}). */
    void announce() throws HypervisorException {
        ProtectedDomain d = domain.lockIfPresent();
        if (d == null) {
            return;
        }
        try {
            d.announce();
        } finally {
            domain.unlock();
        }
    }

    void start() {
        loop.start();
    }

    void setInterval(int ms) {
        status.intervalMs(ms);
        signal.signal();
    }

    /** The output buffers this protection holds, while it runs. */
    List<OutputStatus> outputs() {
        return status.ended() ? List.of() : outputs.statuses();
    }

    List<EpochStats> epochs(int limit) {
        return history.recent(limit);
    }

    /**
     * The protection's state alone, without {@link #status()}'s figures: it does not wait for the domain (which a
     * switchover under way holds until its end), so a transport thread may ask.
     */
    ProtectionState state() {
        return status.state();
    }

    ProtectionStatus status() {
        PrimaryStream s = loop.stream();
        return status.status(ledger.lastCheckpointed(), ledger.lag(s == null ? -1 : s.initialEpoch()),
                !domain.present(), history.cpu(System.currentTimeMillis()));
    }

    /**
     * Stops the loop at an epoch boundary, waits briefly for the last ACKs, then lets output pass, closes the
     * stream and releases the domain.
     */
    void stop() throws InterruptedException {
        stop(false);
    }

    /**
     * Ends protection (GOODBYE: the backup drops its replica); with {@code destroyDomain} the domain is then stopped
     * too instead of left running (scale-down retires a pair).
     */
    void stop(boolean destroyDomain) throws InterruptedException {
        loop.stop(destroyDomain);
    }

    static String hostPort(InetSocketAddress a) {
        return a.getHostString() + ":" + a.getPort();
    }

    // ------------------------------------------------------------------------------------------------ hot swap

    String binding() {
        return domain.binding();
    }

    /**
     * The domain's binding is going away (its bundle is being updated): waits for the loop to leave the domain and
     * lets go of the handle, which the binding keeps for its next version. No checkpoint until {@link #adopt}.
     */
    void bindingGone() {
        domain.bindingGone();
    }

    /** Whether the loop waits for a new binding to adopt the domain. */
    boolean awaitsBinding() {
        return !domain.present() && !status.ended();
    }

    /** A new version of the binding adopted the domain: checkpoints go on, the first with every page since the last. */
    void adopt(ProtectedDomain adopted) {
        domain.adopt(adopted);
        LOG.info("{}: adopted by the new '{}' binding; its dirty log ran on, so no page is lost", id, binding());
        signal.signal();
    }

    /** The new binding could not adopt the domain: without a dirty log nothing consistent can be sent any more. */
    void adoptionFailed(String why) {
        String detail = "the new '" + binding() + "' binding did not adopt the domain: " + why;
        LOG.error("Protection of {} failed: {}", id, detail);
        status.failed(detail);
        signal.requestStop();
    }

    /**
     * An output buffer provider is going away: this protection's buffers from it are dropped, not closed (the
     * provider leaves its hold in the kernel for its next version). Until {@link #attachMissingOutputs()} the
     * kernel holds or drops the interface's output; nothing is released.
     */
    void outputProviderGone(OutputBufferProvider p) {
        outputs.providerGone(p);
    }

    /** Attaches every interface whose buffer went away to the best provider now (which adopts the hold). */
    void attachMissingOutputs() {
        outputs.attachMissing(node);
    }

    /** The failure detector changed: heartbeats to the backup go through the new one. */
    void detectorChanged() {
        heartbeats.detectorChanged(signal.stopping());
    }

    /**
     * The engine is being updated: stops the loop at an epoch boundary after giving the checkpoints in flight a
     * moment to be acknowledged, and lets go of everything without ending the protection: the stream ends with an
     * ERROR (the backup keeps its replica), output stays held (detached), the domain keeps running with its dirty log
     * (detached). Returns what the next engine needs, or null when the protection had ended anyway.
     */
    HandedOver handOver() throws InterruptedException {
        boolean handedOver = loop.handOver();
        ProtectionState state = status.state();
        if (state == ProtectionState.FAILED || state == ProtectionState.FENCED || !handedOver) {
            return null;
        }
        return new HandedOver(id, peer, heartbeat, status.intervalMs(), options, verify, lineage, ledger.nextEpoch(),
                ledger.lastAcked(), ledger.lastCheckpointed(), ledger.resumable(), outputs.passing(), takenOver,
                ledger.unackedPages());
    }
}
