package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.Optional;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.EpochTransfer;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary side of one protected domain: the epoch loop (ARCHITECTURE.md section 3).
 *
 * <p>Per epoch N: run for the interval; seal output N; pause, harvest the dirty pages, copy them and the device state
 * to a staging buffer, resume (the pause covers local copies only); hand N to the sender, which streams it while the
 * domain already runs N+1; on ACK(N) release output N. Two staging buffers alternate, so epoch N+2 waits for the
 * sending of N to finish, and at most {@code maxInflightEpochs} checkpoints wait for their ACK: a slow link or backup
 * lengthens the epoch, it never grows memory.
 *
 * <p>Epoch numbers only grow for the life of the protection, across reconnections: each stream starts with an
 * initial full copy numbered like an epoch, whose ACK releases nothing (the copy is not a consistent state); the
 * first checkpoint after it releases everything held before it.
 *
 * <p>Disks: each stream opens the primary side of every disk with the replicator the engine picks for it, and its
 * initial copy streams the disks' whole content after the memory's. In the pause of epoch N, after the device state,
 * each disk's barrier N returns the writes that belong to N; they travel after N's device state, and the ACK of N
 * commits them on the disks' side. A stream that breaks closes the disks' primary sides: the writes it did not
 * deliver are in the next stream's initial copy, like the memory.
 *
 * <p>Resuming (ARCHITECTURE.md section 8): the loop keeps the pages harvested, and the disk writes taken, in every
 * checkpoint the backup has not acknowledged. A new stream asks the backup to resume the replica it already holds
 * ({@value #LINEAGE_OPTION}, {@value #RESUME_OPTION}); when the backup agrees, there is no initial copy: the first
 * checkpoint carries every page written since the replica's epoch, and the disks' unacknowledged writes again. A
 * stream broken by a bundle update (transport, binding, this engine) therefore costs a few checkpoints, not a copy.
 *
 * <p>Helpers come and go with their bundles: while the binding is gone the loop takes no checkpoint (output stays
 * held) and the next binding adopts the domain; while an interface's output buffer is gone the kernel holds or drops
 * its output, and the next provider adopts the hold.
 */
final class PrimaryProtection {

    private static final Logger LOG = LoggerFactory.getLogger(PrimaryProtection.class);

    private final DomainId id;
    private final InetSocketAddress peer;
    private final Map<String, String> options;
    private final boolean verify;
    private final EngineSettings settings;
    private final String binding;
    private final String lineage;
    /** The domain, or null while its binding is being updated. Used by the loop under {@link #domainLock}. */
    private volatile ProtectedDomain domain;
    private final ReentrantLock domainLock = new ReentrantLock();
    private final List<Output> outputs;
    private final List<GuestDisk> disks;
    private final DomainInfo info;
    private final Node node;
    private final InetSocketAddress heartbeat;
    private final boolean takenOver;
    private final EpochHistory history;
    private final Thread loop;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition progress = lock.newCondition();
    private final Map<Long, Long> pauseEnds = new ConcurrentHashMap<>();

    private volatile boolean stopping;
    /** Set with {@link #stop(boolean)}: the domain is destroyed once protection ended. */
    private volatile boolean retiring;
    private volatile ProtectionState state = ProtectionState.CONNECTING;
    private volatile String detail = "connecting to the backup";
    private volatile int intervalMs;
    private volatile long lastCheckpointed = -1;
    private volatile long lastAcked = -1;
    private volatile long lastPauseNanos;
    private volatile int lastDirty;
    private volatile Session session;
    private volatile Witness.Lease lease;
    private volatile FailureDetector.Monitor backupMonitor;
    private volatile String lastWitnessProblem;
    private volatile boolean raisedUnprotected;
    private volatile boolean passing;
    private volatile boolean handingOver;
    private volatile String backupNode;
    /** Whether the backup holds a replica of this lineage that a new stream can resume. */
    private volatile boolean resumable;
    /** Pages harvested in each checkpoint not yet acknowledged, by epoch. */
    private final NavigableMap<Long, long[]> unackedPages = new ConcurrentSkipListMap<>();
    /** Disk writes taken in each checkpoint not yet acknowledged, by epoch, per disk. */
    private final NavigableMap<Long, List<List<DiskWrite>>> unackedWrites = new ConcurrentSkipListMap<>();
    private long nextEpoch;
    /** The domain was adopted from a previous engine: its dirty log runs already. */
    private boolean adopted;
    // the epoch loop's own: the disks' primary sides for the current stream, and the last epoch they committed
    private List<DiskReplicator.Primary> diskPrimaries = List.of();
    private long disksCommitted;

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

    /**
     * This node's stream address as the backup can reach it: the source address the kernel picks for the backup,
     * and the port this node's transport listens on; null when it cannot be told.
     */
    private static String returnAddress(InetSocketAddress backup, CheckpointTransport t) {
        InetSocketAddress listen = t.listenAddress();
        if (listen == null || listen.getPort() <= 0) {
            return null;
        }
        try (java.net.DatagramSocket probe = new java.net.DatagramSocket()) {
            probe.connect(backup); // no packet is sent: this only asks for the route
            java.net.InetAddress local = probe.getLocalAddress();
            if (local == null || local.isAnyLocalAddress()) {
                return null;
            }
            String host = local.getHostAddress();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + listen.getPort();
        } catch (java.io.IOException | RuntimeException e) {
            LOG.debug("No return address towards {}", backup, e);
            return null;
        }
    }

    /** What a protection needs from its engine; each may change while it runs (bundle updates). */
    interface Node {

        CheckpointTransport transport();

        FailureDetector detector();

        Witness witness();

        Alarms alarms();

        /** The replicator for {@code disk}, or null while none can take it. */
        DiskReplicator diskReplicator(GuestDisk disk);

        /** Why no replicator takes {@code disk}. */
        String noDiskReplicator(GuestDisk disk);

        /** Attaches the best output buffer for {@code nic} (adopting a hold left by a previous one). */
        Output attachOutput(GuestInterface nic) throws OutputBufferException;
    }

    /** One guest interface's output buffer and the provider it came from; the buffer is null while none holds it. */
    static final class Output {

        final GuestInterface nic;
        volatile OutputBufferProvider provider;
        volatile OutputBuffer buffer;

        Output(GuestInterface nic, OutputBufferProvider provider, OutputBuffer buffer) {
            this.nic = nic;
            this.provider = provider;
            this.buffer = buffer;
        }

        void each(java.util.function.Consumer<OutputBuffer> action) {
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
                UUID.randomUUID().toString());
    }

    /** A protection handed over by a previous engine: it goes on where that one stopped. */
    PrimaryProtection(HandedOver h, EngineSettings settings, ProtectedDomain domain, List<Output> outputs, Node node,
            Witness.Lease lease) {
        this(h.id(), h.peer(), h.heartbeat(), h.intervalMs(), h.options(), h.verify(), settings, domain, outputs,
                node, lease, h.takenOver(), h.lineage());
        this.nextEpoch = h.nextEpoch();
        this.lastAcked = h.lastAcked();
        this.lastCheckpointed = h.lastCheckpointed();
        this.resumable = h.resumable();
        this.unackedPages.putAll(h.unackedPages());
        this.adopted = true;
        if (!h.passing() && passing) {
            // taken over after a failover, and protected since: its output is held
            this.outputs.forEach(o -> o.each(OutputBuffer::resumeBuffering));
            this.passing = false;
        }
        if (h.passing()) {
            this.outputs.forEach(o -> o.each(OutputBuffer::passThrough));
            this.passing = true;
            this.state = ProtectionState.UNPROTECTED;
            this.detail = "UNPROTECTED: handed over by the previous engine without a backup; reconnecting to "
                    + hostPort(peer);
        } else {
            this.state = ProtectionState.DEGRADED;
            this.detail = "handed over by the previous engine; output held, resuming the stream to " + hostPort(peer);
        }
    }

    private PrimaryProtection(DomainId id, InetSocketAddress peer, InetSocketAddress heartbeat, int intervalMs,
            Map<String, String> options, boolean verify, EngineSettings settings, ProtectedDomain domain,
            List<Output> outputs, Node node, Witness.Lease lease, boolean takenOver, String lineage) {
        this.id = id;
        this.binding = id.binding();
        this.lineage = lineage;
        this.verify = verify;
        this.peer = peer;
        this.intervalMs = intervalMs;
        this.options = Map.copyOf(options);
        this.settings = settings;
        this.domain = domain;
        this.outputs = List.copyOf(outputs);
        this.disks = List.copyOf(domain.disks());
        this.info = domain.info();
        this.node = node;
        this.heartbeat = heartbeat;
        this.lease = lease;
        this.takenOver = takenOver;
        if (takenOver) {
            this.outputs.forEach(o -> o.each(OutputBuffer::passThrough));
            this.passing = true;
            this.state = ProtectionState.UNPROTECTED;
            this.detail = "UNPROTECTED: activated here after a failover; waiting for a backup at " + hostPort(peer);
        }
        this.history = new EpochHistory(settings.historySize());
        this.loop = new Thread(this::run, "romulus-epoch-" + id);
        this.loop.setDaemon(true);
    }

    DomainId id() {
        return id;
    }

    /** Whether this node took the domain over from another (failover), rather than being given it. */
    boolean takenOver() {
        return takenOver;
    }

    void start() {
        loop.start();
    }

    void setInterval(int ms) {
        intervalMs = ms;
        signal();
    }

    /** The output buffers this protection holds, while it runs. */
    List<OutputStatus> outputs() {
        if (state == ProtectionState.STOPPED || state == ProtectionState.FAILED || state == ProtectionState.FENCED) {
            return List.of();
        }
        List<OutputStatus> out = new ArrayList<>();
        for (Output o : outputs) {
            OutputBuffer b = o.buffer;
            if (b != null) {
                out.add(new OutputStatus(id.toString(), b.interfaceName(), b.stats()));
            }
        }
        return out;
    }

    List<EpochStats> epochs(int limit) {
        return history.recent(limit);
    }

    ProtectionStatus status() {
        long acked = lastAcked;
        Session s = session;
        long base = s == null ? acked : Math.max(acked, s.initialEpoch);
        long lag = lastCheckpointed < 0 ? 0 : Math.max(0, lastCheckpointed - base);
        String d = detail;
        if (verify) {
            d = d.isEmpty() ? "verify on" : d + "; verify on";
        }
        return new ProtectionStatus(id.toString(), Role.PRIMARY, state, Math.max(0, lastCheckpointed), intervalMs,
                lastPauseNanos, lastDirty, lag, hostPort(peer), d);
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
        retiring = destroyDomain;
        stopping = true;
        signal();
        loop.join(TimeUnit.SECONDS.toMillis(30));
        if (loop.isAlive()) {
            LOG.warn("Epoch loop of {} did not stop within 30 s; closing the stream under it", id);
            Session s = session;
            if (s != null) {
                s.close();
            }
            loop.join(TimeUnit.SECONDS.toMillis(5));
        }
    }

    // ------------------------------------------------------------------------------------------------ the loop

    private void run() {
        long lostSince = System.nanoTime();
        boolean everConnected = false;
        try {
            if (!adopted) {
                domain.startDirtyLog();
            }
            while (!stopping) {
                Session s = connect(lostSince, everConnected);
                if (s == null) {
                    break;
                }
                everConnected = true;
                session = s;
                try {
                    if (s.resumedFrom >= 0) {
                        resume(s);
                    } else {
                        initialCopy(s);
                    }
                    checkpoints(s);
                } catch (LinkLostException e) {
                    DomainTakenOverException taken = takenOver(e);
                    if (taken != null) {
                        throw new FencedException(taken.getMessage());
                    }
                    if (stopping && !handingOver && s.failure == null) {
                        // stopped (unprotect, retire) during the initial copy while the link is up: the stream ends
                        // with GOODBYE in shutdown(), so the backup drops its replica as after any other stop
                        break;
                    }
                    lostSince = System.nanoTime();
                    // ERROR, not GOODBYE: should the link come back, the backup must keep its replica
                    s.close("link lost: " + e.getMessage());
                    if (!resumable) {
                        // the next stream copies the disks whole: no write log needs to grow meanwhile
                        closeDisks();
                    }
                    if (!stopping) {
                        state = ProtectionState.DEGRADED;
                        detail = "backup lost (" + e.getMessage() + "); output held, reconnecting";
                        LOG.warn("Protection of {} degraded: {}; output is held while reconnecting to {} for up to {} ms",
                                id, e.getMessage(), hostPort(peer), settings.linkTimeoutMs());
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (FencedException e) {
            state = ProtectionState.FENCED;
            detail = e.getMessage();
            node.alarms().raise(Alarm.Kind.FENCED, id, e.getMessage() + "; this node's copy is stopped and the output"
                    + " it held is dropped (I5)");
        } catch (HypervisorException | RuntimeException e) {
            state = ProtectionState.FAILED;
            detail = "checkpointing failed: " + e.getMessage();
            LOG.error("Protection of {} failed; output it held is dropped, the backup keeps its replica, and the domain (if it "
                    + "still runs) continues UNPROTECTED", id, e);
            node.alarms().raise(Alarm.Kind.FAILED, id, detail);
        } finally {
            shutdown();
        }
    }

    /**
     * The backup's word that it took the domain over, anywhere in the chain of causes: the sender may meet the closed
     * stream first and wrap what closed it.
     */
    private static DomainTakenOverException takenOver(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof DomainTakenOverException taken) {
                return taken;
            }
        }
        return null;
    }

    /** Connects, or reconnects, holding output until the link timeout and then running unprotected (I4). */
    private Session connect(long lostSince, boolean reconnecting) throws InterruptedException, FencedException {
        boolean warnedUnprotected = false;
        String lastFailure = null;
        while (!stopping) {
            if (state == ProtectionState.UNPROTECTED && !witnessAllowsRelease()) {
                // the lease could not be confirmed: the backup may be taking over, so nothing more leaves (I5)
                outputs.forEach(o -> o.each(OutputBuffer::resumeBuffering));
                passing = false;
                state = ProtectionState.DEGRADED;
                detail = "the witness did not confirm this node's lease; output held: " + lastWitnessProblem;
                warnedUnprotected = false;
            }
            CheckpointTransport t = node.transport();
            String noDisk = missingDiskReplicator();
            if (t == null) {
                detail = "waiting for a checkpoint transport service";
            } else if (noDisk != null) {
                detail = "waiting for a disk replicator: " + noDisk;
            } else {
                AckHandler acks = new AckHandler();
                try {
                    // resolved on every attempt, so a backup's name may move to another address
                    InetSocketAddress target = new InetSocketAddress(peer.getHostString(), peer.getPort());
                    if (target.isUnresolved()) {
                        throw new CheckpointException("cannot resolve " + peer.getHostString());
                    }
                    Map<String, String> helloOptions = new java.util.LinkedHashMap<>(options);
                    DiskAnnouncement.announce(disks, helloOptions);
                    helloOptions.put(LINEAGE_OPTION, lineage);
                    long resumeFrom = resumable ? lastAcked : -1;
                    if (resumeFrom >= 0) {
                        helloOptions.put(RESUME_OPTION, resumeFrom + "-" + Math.max(resumeFrom, lastCheckpointed));
                    }
                    String back = returnAddress(target, t);
                    if (back != null) {
                        helloOptions.put(RETURN_OPTION, back);
                    }
                    Hello hello = new Hello(settings.nodeId(), id.toString(), id.binding(), info.memoryBytes(),
                            info.pageSize(), helloOptions);
                    CheckpointChannel channel = t.connect(target, hello, acks);
                    Session s = new Session(channel, info.pageSize());
                    HelloReply reply = channel.peer();
                    if (resumeFrom >= 0 && reply.resumed()) {
                        if (reply.resumedFrom() < resumeFrom || reply.resumedFrom() > Math.max(resumeFrom,
                                lastCheckpointed)) {
                            channel.abort("resumed from checkpoint " + reply.resumedFrom() + ", outside "
                                    + resumeFrom + "-" + lastCheckpointed);
                            throw new CheckpointException("the backup resumed from checkpoint " + reply.resumedFrom()
                                    + ", which this node never asked for (" + resumeFrom + "-" + lastCheckpointed
                                    + ")");
                        }
                        s.resumedFrom = reply.resumedFrom();
                    }
                    acks.session = s;
                    backupNode = reply.nodeId();
                    watchBackup(reply.nodeId());
                    if (state == ProtectionState.UNPROTECTED) {
                        outputs.forEach(o -> o.each(OutputBuffer::resumeBuffering));
                        passing = false;
                    }
                    LOG.info("{} stream of {} to backup {} ({}) is up", reconnecting ? "Reconnected:" : "Connected:",
                            id, channel.peer().nodeId(), hostPort(peer));
                    return s;
                } catch (DomainTakenOverException e) {
                    throw new FencedException(e.getMessage());
                } catch (CheckpointException e) {
                    String prefix = state == ProtectionState.UNPROTECTED ? "UNPROTECTED: "
                            : reconnecting ? "backup lost; " : "";
                    detail = prefix + "cannot reach the backup at " + hostPort(peer) + ": " + e.getMessage();
                    if (!e.getMessage().equals(lastFailure)) {
                        lastFailure = e.getMessage();
                        LOG.warn("Connecting {} to its backup at {} failed: {}; retrying every {} ms", id,
                                hostPort(peer), e.getMessage(), settings.reconnectDelayMs());
                    }
                    LOG.debug("Connecting {} to {} failed", id, hostPort(peer), e);
                }
            }
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lostSince);
            if (!warnedUnprotected && waited >= settings.linkTimeoutMs()) {
                if (!witnessAllowsRelease()) {
                    detail = "backup lost and the witness did not confirm this node's lease; output held: "
                            + lastWitnessProblem;
                    state = ProtectionState.DEGRADED;
                } else {
                    warnedUnprotected = true;
                    detail = "UNPROTECTED: " + detail;
                    if (state != ProtectionState.UNPROTECTED) {
                        outputs.forEach(o -> o.each(OutputBuffer::passThrough));
                        passing = true;
                        state = ProtectionState.UNPROTECTED;
                        raisedUnprotected = true;
                        node.alarms().raise(Alarm.Kind.UNPROTECTED, id, "no backup at " + hostPort(peer) + " for "
                                + waited + " ms; held output released and the domain runs unprotected. Protection "
                                + "resumes when the backup returns (a full copy unless it still holds its replica).");
                    }
                }
            } else if (state != ProtectionState.UNPROTECTED) {
                state = reconnecting ? ProtectionState.DEGRADED : ProtectionState.CONNECTING;
            }
            awaitNanos(TimeUnit.MILLISECONDS.toNanos(settings.reconnectDelayMs()));
        }
        return null;
    }

    /** Epoch "initial": every page, copied while the domain runs; pages written meanwhile go into the first checkpoint. */
    private void initialCopy(Session s) throws InterruptedException, HypervisorException, LinkLostException {
        long initialEpoch = nextEpoch++;
        s.initialEpoch = initialEpoch;
        state = ProtectionState.SYNCING;
        long started = System.nanoTime();
        // the copy replaces whatever the backup holds: nothing earlier needs to go again, and until its first
        // checkpoint commits there is no replica to resume
        resumable = false;
        unackedPages.clear();
        unackedWrites.clear();

        // everything written from here on is in the dirty log of the first checkpoint
        ProtectedDomain d = lockDomain("the initial copy");
        try {
            d.pause();
            try {
                d.harvestDirty();
            } finally {
                d.resume();
            }
        } finally {
            domainLock.unlock();
        }

        long pages = info.pageCount();
        int batch = settings.initialCopyBatch();
        long[] pfns = new long[batch];
        ByteBuffer buffer = ByteBuffer.allocateDirect(batch * info.pageSize());
        int lastPercent = -1;
        long raw = 0;
        for (long first = 0; first < pages; first += batch) {
            s.check();
            if (stopping) {
                throw new LinkLostException("protection stopped during the initial copy");
            }
            int n = (int) Math.min(batch, pages - first);
            for (int i = 0; i < n; i++) {
                pfns[i] = first + i;
            }
            buffer.clear();
            ProtectedDomain running = lockDomain("the initial copy");
            try {
                running.copyPages(pfns, 0, n, buffer);
            } finally {
                domainLock.unlock();
            }
            buffer.flip();
            s.send(() -> {
                s.channel.sendPages(initialEpoch, pfns, 0, n, buffer);
                return null;
            });
            raw += (long) n * info.pageSize();
            int percent = (int) ((first + n) * 100 / pages);
            if (percent != lastPercent) {
                lastPercent = percent;
                detail = String.format("initial copy %d%% (%d of %d MiB)", percent, raw >> 20,
                        info.memoryBytes() >> 20);
                if (percent % 25 == 0) {
                    LOG.info("Initial copy of {}: {}%", id, percent);
                }
            }
        }
        copyDisks(s, initialEpoch);
        EpochTransfer t = s.send(() -> s.channel.endEpoch(initialEpoch, true));
        LOG.info("Initial copy of {} sent: {} MiB in {} ms, {} bytes on the wire (ratio {})", id,
                info.memoryBytes() >> 20, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started),
                t.wireBytes(), String.format("%.2f", t.compressionRatio()));
        detail = "initial copy sent; waiting for the first checkpoint's ACK";
        s.progressNanos = System.nanoTime();
    }

    /**
     * Locks the domain for one use by the loop. A binding being updated must not be called meanwhile; while none is
     * there, a stream cannot go on with an initial copy, so it ends (and the next one starts when the domain is back).
     */
    private ProtectedDomain lockDomain(String during) throws LinkLostException {
        domainLock.lock();
        ProtectedDomain d = domain;
        if (d == null) {
            domainLock.unlock();
            throw new LinkLostException("the '" + binding + "' binding went away during " + during);
        }
        return d;
    }

    /**
     * The backup resumed the replica it holds at {@code s.resumedFrom}: what it committed is acknowledged, and the
     * first checkpoint of the stream carries again every page and disk write of the checkpoints after it.
     */
    private void resume(Session s) {
        long from = s.resumedFrom;
        // nothing up to the last checkpoint taken is in flight on this stream: those epochs go again inside the next
        s.initialEpoch = Math.max(from, nextEpoch - 1);
        if (from > lastAcked) {
            // the backup committed it and its ACK was lost with the stream. Its output is released with the first ACK
            // of this stream (release is cumulative), never on the strength of the HELLO alone: output leaves on ACKs
            lastAcked = from;
        }
        unackedPages.headMap(from, true).clear();
        unackedWrites.headMap(from, true).clear();
        java.util.TreeSet<Long> pages = new java.util.TreeSet<>();
        for (long[] epochPages : unackedPages.values()) {
            for (long pfn : epochPages) {
                pages.add(pfn);
            }
        }
        s.resendPages = pages.stream().mapToLong(Long::longValue).toArray();
        List<List<DiskWrite>> writes = new ArrayList<>();
        for (int i = 0; i < disks.size(); i++) {
            writes.add(new ArrayList<>());
        }
        for (List<List<DiskWrite>> epochWrites : unackedWrites.values()) {
            for (int i = 0; i < epochWrites.size() && i < writes.size(); i++) {
                writes.get(i).addAll(epochWrites.get(i));
            }
        }
        s.resendWrites = writes;
        state = ProtectionState.SYNCING;
        detail = "stream resumed at checkpoint " + from + "; waiting for the first checkpoint's ACK";
        s.progressNanos = System.nanoTime();
        LOG.info("Resumed the stream of {} at checkpoint {} (no initial copy): {} pages of {} unacknowledged "
                + "checkpoints go again with the next one", id, from, s.resendPages.length, unackedPages.size());
    }

    /** Which disk no replicator takes now, or null when each has one. */
    private String missingDiskReplicator() {
        for (GuestDisk d : disks) {
            if (node.diskReplicator(d) == null) {
                return node.noDiskReplicator(d);
            }
        }
        return null;
    }

    /**
     * The disks' part of the initial copy: opens each disk's primary side for this stream (which starts its write
     * log) and streams its content as disk writes of the initial epoch, chunk by chunk as the replicator reads them.
     */
    private void copyDisks(Session s, long initialEpoch) throws InterruptedException, LinkLostException {
        closeDisks();
        List<DiskReplicator.Primary> opened = new ArrayList<>();
        diskPrimaries = opened;
        disksCommitted = initialEpoch;
        for (int i = 0; i < disks.size(); i++) {
            GuestDisk disk = disks.get(i);
            DiskReplicator replicator = node.diskReplicator(disk);
            if (replicator == null) {
                throw new LinkLostException(node.noDiskReplicator(disk));
            }
            int index = i;
            long started = System.nanoTime();
            long[] copied = {0};
            int[] lastPercent = {-1};
            try {
                DiskReplicator.Primary p = replicator.primary(id, disk);
                opened.add(p);
                p.initialCopy((offset, data) -> {
                    s.check();
                    if (stopping) {
                        throw new LinkLostException("protection stopped during the initial copy");
                    }
                    byte[] bytes = new byte[data.remaining()];
                    data.duplicate().get(bytes);
                    s.send(() -> {
                        s.channel.sendDiskWrites(initialEpoch, index, List.of(new DiskWrite(offset, bytes)));
                        return null;
                    });
                    copied[0] += bytes.length;
                    if (disk.sizeBytes() <= 0) {
                        detail = String.format("initial copy of disk %s: %d MiB", disk.name(), copied[0] >> 20);
                        return;
                    }
                    int percent = (int) Math.min(100, copied[0] * 100 / disk.sizeBytes());
                    if (percent != lastPercent[0]) {
                        lastPercent[0] = percent;
                        detail = String.format("initial copy of disk %s: %d%% (%d of %d MiB)", disk.name(), percent,
                                copied[0] >> 20, disk.sizeBytes() >> 20);
                        if (percent % 25 == 0) {
                            LOG.info("Initial copy of disk {} of {}: {}%", disk.name(), id, percent);
                        }
                    }
                });
            } catch (LinkLostException | InterruptedException e) {
                throw e;
            } catch (Exception e) {
                throw diskFailed(disk, "initial copy", e);
            }
            LOG.info("Initial copy of disk {} of {} ({}, {} MiB) sent in {} ms", disk.name(), id,
                    replicator.name(), copied[0] >> 20, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        }
    }

    /** Barrier {@code epoch} on every disk, in the pause: the writes of the epoch, per disk. */
    private List<List<DiskWrite>> diskBarrier(long epoch) throws LinkLostException {
        if (diskPrimaries.isEmpty()) {
            return List.of();
        }
        List<List<DiskWrite>> writes = new ArrayList<>(diskPrimaries.size());
        for (int i = 0; i < diskPrimaries.size(); i++) {
            try {
                writes.add(List.copyOf(diskPrimaries.get(i).barrier(epoch)));
            } catch (Exception e) {
                throw diskFailed(disks.get(i), "barrier " + epoch, e);
            }
        }
        return writes;
    }

    /** Tells the disks about every checkpoint of this stream acknowledged since the last call, in order. */
    private void commitDisks() throws LinkLostException {
        long acked = lastAcked;
        while (disksCommitted < acked && !diskPrimaries.isEmpty()) {
            long epoch = disksCommitted + 1;
            for (int i = 0; i < diskPrimaries.size(); i++) {
                try {
                    diskPrimaries.get(i).committed(epoch);
                } catch (Exception e) {
                    throw diskFailed(disks.get(i), "commit " + epoch, e);
                }
            }
            disksCommitted = epoch;
        }
    }

    /**
     * A disk's replicator failed: the stream cannot carry a consistent disk any more, so it is restarted, with a
     * full copy of memory and disks (the replicator is picked again, so an updated bundle takes over).
     */
    private LinkLostException diskFailed(GuestDisk disk, String what, Exception e) {
        LOG.warn("Disk replication of {} on {} failed ({}): {}; restarting the stream with a full copy", disk.name(),
                id, what, e.toString(), e);
        return new LinkLostException("disk " + disk.name() + ": " + what + " failed: " + e.getMessage(), e);
    }

    private void closeDisks() {
        if (!diskPrimaries.isEmpty()) {
            // their write logs end here: the backup's disks can only be brought up to date by a copy
            resumable = false;
            unackedWrites.clear();
        }
        for (DiskReplicator.Primary p : diskPrimaries) {
            try {
                p.close();
            } catch (RuntimeException e) {
                LOG.warn("Closing a disk replicator of {} failed", id, e);
            }
        }
        diskPrimaries = List.of();
    }

    private void checkpoints(Session s) throws InterruptedException, HypervisorException, LinkLostException {
        long epochStart = System.nanoTime();
        long epochStartMillis = System.currentTimeMillis();
        while (true) {
            s.check();
            commitDisks();
            if (stopping) {
                drain(s);
                commitDisks();
                return;
            }
            long deadline = epochStart + TimeUnit.MILLISECONDS.toNanos(intervalMs);
            long now;
            while (!stopping && (now = System.nanoTime()) < deadline) {
                awaitNanos(deadline - now);
                s.check();
                commitDisks();
            }
            if (stopping) {
                continue;
            }
            long epoch = nextEpoch;
            waitForRoom(s, epoch);
            if (stopping) {
                continue;
            }
            StagingBuffer staging = s.staging[(int) (epoch & 1)];
            ProtectedDomain d = awaitDomain(s);
            if (d == null) {
                continue;
            }
            long pauseStart;
            long copyNanos;
            byte[] deviceState;
            List<List<DiskWrite>> diskWrites;
            try {
                outputs.forEach(o -> o.each(b -> b.seal(epoch)));
                pauseStart = System.nanoTime();
                d.pause();
                try {
                    long[] harvested = d.harvestDirty();
                    long[] dirty = harvested;
                    if (s.resendPages != null) {
                        dirty = union(harvested, s.resendPages);
                        s.resendPages = null;
                    }
                    ByteBuffer buffer = staging.prepare(dirty);
                    long copyStart = System.nanoTime();
                    d.copyPages(dirty, 0, dirty.length, buffer);
                    copyNanos = System.nanoTime() - copyStart;
                    unackedPages.put(epoch, harvested);
                    byte[] bindingState = d.captureDeviceState();
                    int digest = verify ? MemoryDigest.of(d) : 0;
                    deviceState = new DeviceStateEnvelope(bindingState, verify, digest).encode();
                    try {
                        diskWrites = diskBarrier(epoch);
                    } catch (LinkLostException e) {
                        nextEpoch = epoch + 1; // its output was sealed; the next stream's first checkpoint releases it
                        throw e;
                    }
                } finally {
                    d.resume();
                }
            } finally {
                domainLock.unlock();
            }
            if (!diskWrites.isEmpty()) {
                unackedWrites.put(epoch, diskWrites);
                List<List<DiskWrite>> again = s.resendWrites;
                if (again != null) {
                    s.resendWrites = null;
                    List<List<DiskWrite>> all = new ArrayList<>();
                    for (int i = 0; i < diskWrites.size(); i++) {
                        List<DiskWrite> w = new ArrayList<>(i < again.size() ? again.get(i) : List.of());
                        w.addAll(diskWrites.get(i));
                        all.add(w);
                    }
                    diskWrites = all;
                }
            }
            long pauseEnd = System.nanoTime();
            long pauseNanos = pauseEnd - pauseStart;

            history.add(new EpochStats(epoch, epochStartMillis, pauseStart - epochStart, staging.pageCount(),
                    pauseNanos, copyNanos, 0, 0, -1));
            pauseEnds.put(epoch, pauseEnd);
            lastPauseNanos = pauseNanos;
            lastDirty = staging.pageCount();
            lastCheckpointed = epoch;
            nextEpoch = epoch + 1;
            epochStart = pauseEnd;
            epochStartMillis = System.currentTimeMillis();
            if (LOG.isTraceEnabled()) {
                LOG.trace("{} epoch {}: {} dirty pages, pause {} us", id, epoch, staging.pageCount(), pauseNanos / 1000);
            }
            s.sendAsync(epoch, staging, deviceState, diskWrites);
        }
    }

    /**
     * The domain, locked for this checkpoint; while its binding is away (a bundle update) waits with output held,
     * and returns null when the protection stops meanwhile.
     */
    private ProtectedDomain awaitDomain(Session s) throws InterruptedException, LinkLostException {
        boolean waited = false;
        while (!stopping) {
            domainLock.lock();
            ProtectedDomain d = domain;
            if (d != null) {
                if (waited) {
                    LOG.info("{}: the '{}' binding is back; checkpoints go on", id, binding);
                    if (detail.equals(bindingAway())) {
                        detail = ""; // what it described has ended
                    }
                }
                return d;
            }
            domainLock.unlock();
            if (!waited) {
                waited = true;
                detail = bindingAway();
            }
            s.check();
            awaitNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        return null;
    }

    private String bindingAway() {
        return "the '" + binding + "' binding is away (bundle update?); no checkpoint, output held";
    }

    /** The union of two ascending page lists, ascending. */
    static long[] union(long[] a, long[] b) {
        long[] out = new long[a.length + b.length];
        int i = 0;
        int j = 0;
        int n = 0;
        while (i < a.length || j < b.length) {
            long next;
            if (j >= b.length || (i < a.length && a[i] <= b[j])) {
                next = a[i++];
            } else {
                next = b[j++];
            }
            if (n == 0 || out[n - 1] != next) {
                out[n++] = next;
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /** Waits until the staging buffer of {@code epoch} is free and the ACK window has room. The domain keeps running. */
    private void waitForRoom(Session s, long epoch) throws InterruptedException, LinkLostException {
        lock.lock();
        try {
            while (!stopping) {
                s.check();
                boolean stagingFree = s.sentThrough >= epoch - 2 || epoch - 2 <= s.initialEpoch;
                long acked = Math.max(lastAcked, s.initialEpoch);
                boolean windowOpen = epoch - 1 - acked < settings.maxInflightEpochs();
                if (stagingFree && windowOpen) {
                    return;
                }
                // a link that drops packets silently breaks no connection: no ACK for too long is a lost link.
                // Before the stream's first ACK the initial copy may legitimately take longer to reach a slow
                // backup: until then a stream still taking bytes is alive (a silent link stops taking them as soon
                // as the socket's buffer is full). Afterwards only ACKs count, so a backup that goes on reading but
                // no longer acknowledges (it took the domain over) is left, and the new stream learns why
                long silent = System.nanoTime() - s.progressNanos;
                if (silent > TimeUnit.MILLISECONDS.toNanos(ackTimeoutMs())) {
                    long out = s.acked ? s.bytesOut : bytesOut();
                    if (out > s.bytesOut) {
                        s.bytesOut = out;
                        s.progressNanos = System.nanoTime();
                        continue;
                    }
                    throw new LinkLostException("no ACK from the backup for "
                            + TimeUnit.NANOSECONDS.toMillis(silent) + " ms");
                }
                progress.await(5, TimeUnit.MILLISECONDS);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Bytes this node's stream for the domain has written to its socket so far (0 when the transport cannot say). */
    private long bytesOut() {
        CheckpointTransport t = node.transport();
        if (t == null) {
            return 0;
        }
        String domainName = id.toString();
        return t.connections().stream().filter(c -> "primary".equals(c.role()) && domainName.equals(c.domain()))
                .mapToLong(CheckpointTransport.ConnectionInfo::bytesOut).sum();
    }

    /**
     * How long checkpoints may wait for an ACK before the backup counts as lost: a third of the link timeout, at
     * least a second. Output stays held meanwhile; the link timeout then runs from the loss.
     */
    private long ackTimeoutMs() {
        return Math.max(1000, settings.linkTimeoutMs() / 3);
    }

    /** On unprotect: give the last checkpoints a moment to be acknowledged so their output goes out committed. */
    private void drain(Session s) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        lock.lock();
        try {
            while (lastAcked < lastCheckpointed && s.failure == null && System.nanoTime() < deadline) {
                progress.await(5, TimeUnit.MILLISECONDS);
            }
        } finally {
            lock.unlock();
        }
    }

    private void shutdown() {
        FailureDetector.Monitor m = backupMonitor;
        backupMonitor = null;
        if (m != null) {
            m.close();
        }
        Session s = session;
        boolean fenced = state == ProtectionState.FENCED;
        if (handingOver && !fenced && state != ProtectionState.FAILED) {
            handOverShutdown(s);
            return;
        }
        if (s != null) {
            // an orderly GOODBYE lets the backup drop its replica; after a failure here it must keep it for failover
            s.close(state == ProtectionState.FAILED || fenced ? detail : null);
        }
        closeDisks();
        if (fenced) {
            fence();
            return;
        }
        Witness.Lease l = lease;
        if (l != null && state != ProtectionState.FAILED) {
            l.close();
        }
        boolean failed = state == ProtectionState.FAILED;
        for (Output slot : outputs) {
            OutputBuffer o = slot.buffer;
            if (o == null) {
                continue;
            }
            try {
                if (failed) {
                    // the backup keeps its replica and may be activated from it: output it never acknowledged must
                    // not leave (I3); later output flows once the buffer is gone
                    o.discard();
                } else {
                    o.passThrough();
                }
                o.close();
            } catch (RuntimeException e) {
                LOG.warn("Closing the output buffer of {} on {} failed", id, o.interfaceName(), e);
            }
        }
        domainLock.lock();
        try {
            ProtectedDomain d = domain;
            if (d != null) {
                try {
                    d.stopDirtyLog();
                } catch (HypervisorException | RuntimeException e) {
                    LOG.warn("Stopping the dirty log of {} failed", id, e);
                }
                if (retiring && state != ProtectionState.FAILED) {
                    try {
                        d.destroy();
                        LOG.info("{} retired: its protection ended and the domain is stopped", id);
                    } catch (HypervisorException | RuntimeException e) {
                        LOG.warn("Stopping the retired {} failed; it may still run unprotected", id, e);
                        d.close();
                    }
                } else {
                    d.close();
                }
            }
        } finally {
            domainLock.unlock();
        }
        if (state != ProtectionState.FAILED) {
            state = ProtectionState.STOPPED;
            detail = "protection stopped";
        }
        LOG.info("Protection of {} ended ({})", id, state);
    }

    /**
     * Another node runs the domain: stop this copy first, then drop what is held. In that order: once the output
     * buffer is closed nothing holds the guest's packets any more, so the guest must be gone by then (I5).
     */
    private void fence() {
        ProtectedDomain domain = this.domain;
        try {
            if (domain == null) {
                throw new HypervisorException("its '" + binding + "' binding is away (bundle update)");
            }
            domain.destroy();
            LOG.warn("FENCED: {} was stopped on this node; its output since the last acknowledged checkpoint is "
                    + "dropped", id);
            for (GuestDisk d : disks) {
                DiskReplicator r = node.diskReplicator(d);
                try {
                    if (r != null) {
                        r.fence(id, d);
                    }
                } catch (Exception e) {
                    LOG.error("FENCED: disk {} of {} could not be fenced on this node ({}): make sure nothing here "
                            + "writes it", d.name(), id, e.getMessage());
                }
            }
        } catch (HypervisorException | RuntimeException e) {
            LOG.error("FENCED: stopping {} on this node failed; its output stays held - stop it by hand, it must not "
                    + "run here", id, e);
            outputs.forEach(o -> o.each(OutputBuffer::discard));
            return; // the buffers stay attached: whatever the copy still sends is held, never released
        }
        for (Output slot : outputs) {
            OutputBuffer o = slot.buffer;
            if (o == null) {
                continue;
            }
            try {
                o.discard();
                o.close();
            } catch (RuntimeException e) {
                LOG.warn("Dropping the held output of {} on {} failed", id, o.interfaceName(), e);
            }
        }
    }

    /**
     * Whether output may leave without a backup. Without a witness it may (invariant I4, with the split-brain risk
     * documented for that configuration). With one, only while the witness confirms that this node holds the
     * domain's lease; when another node holds it the domain was taken over, and this node is fenced.
     */
    private boolean witnessAllowsRelease() throws FencedException {
        Witness w = node.witness();
        Witness.Lease l = lease;
        if (l == null && w == null) {
            return true;
        }
        try {
            if (l != null) {
                if (l.confirm()) {
                    lastWitnessProblem = null;
                    return true;
                }
                lease = null;
                l.close();
            }
            if (w == null) {
                return witnessProblem("the witness service went away");
            }
            Optional<Witness.Lease> taken = w.tryAcquire(id.toString(), settings.nodeId());
            if (taken.isPresent()) {
                lease = taken.get();
                lastWitnessProblem = null;
                LOG.info("{}: took the lease of the domain from the witness ({})", id, w.describe());
                return true;
            }
            String holder = w.holder(id.toString()).orElse("another node");
            throw new FencedException("the witness (" + w.describe() + ") says " + holder + " holds the lease of "
                    + id + ": it was taken over");
        } catch (WitnessException e) {
            return witnessProblem("the witness cannot be asked: " + e.getMessage());
        }
    }

    private boolean witnessProblem(String problem) {
        if (!problem.equals(lastWitnessProblem)) {
            node.alarms().raise(Alarm.Kind.WITNESS, id, problem + "; output stays held until it answers");
        }
        lastWitnessProblem = problem;
        return false;
    }

    /** Heartbeats to the backup's failure detector, so that it can watch this node; ACKs count as liveness. */
    private void watchBackup(String backupNode) {
        if (backupMonitor != null) {
            return;
        }
        FailureDetector d = node.detector();
        if (d == null) {
            LOG.warn("No failure detector on this node: the backup of {} gets no heartbeats, so it cannot fail over "
                    + "on its own", id);
            return;
        }
        backupMonitor = d.monitor(backupNode, heartbeat, new FailureDetector.Listener() {
            @Override
            public void suspected(String peerId, double phi) {
                LOG.warn("Backup {} of {} is suspected (phi {})", peerId, id, String.format("%.1f", phi));
            }

            @Override
            public void recovered(String peerId) {
                LOG.info("Backup {} of {} is heard from again", peerId, id);
            }
        });
    }

    private void awaitNanos(long nanos) throws InterruptedException {
        lock.lock();
        try {
            if (!stopping) {
                progress.awaitNanos(Math.min(nanos, TimeUnit.MILLISECONDS.toNanos(50)));
            }
        } finally {
            lock.unlock();
        }
    }

    private void signal() {
        lock.lock();
        try {
            progress.signalAll();
        } finally {
            lock.unlock();
        }
    }

    static String hostPort(InetSocketAddress a) {
        return a.getHostString() + ":" + a.getPort();
    }

    // ------------------------------------------------------------------------------------------------ hot swap

    String binding() {
        return binding;
    }

    /**
     * The domain's binding is going away (its bundle is being updated): waits for the loop to leave the domain and
     * lets go of the handle, which the binding keeps for its next version. No checkpoint until {@link #adopt}.
     */
    void bindingGone() {
        domainLock.lock();
        try {
            if (domain != null) {
                domain = null;
                LOG.info("{}: the '{}' binding went away; checkpoints wait for its next version, output is held", id,
                        binding);
            }
        } finally {
            domainLock.unlock();
        }
    }

    /** Whether the loop waits for a new binding to adopt the domain. */
    boolean awaitsBinding() {
        return domain == null && state != ProtectionState.STOPPED && state != ProtectionState.FAILED
                && state != ProtectionState.FENCED;
    }

    /** A new version of the binding adopted the domain: checkpoints go on, the first with every page since the last. */
    void adopt(ProtectedDomain adopted) {
        domainLock.lock();
        try {
            domain = adopted;
        } finally {
            domainLock.unlock();
        }
        LOG.info("{}: adopted by the new '{}' binding; its dirty log ran on, so no page is lost", id, binding);
        signal();
    }

    /** The new binding could not adopt the domain: without a dirty log nothing consistent can be sent any more. */
    void adoptionFailed(String why) {
        state = ProtectionState.FAILED;
        detail = "the new '" + binding + "' binding did not adopt the domain: " + why;
        LOG.error("Protection of {} failed: {}", id, detail);
        node.alarms().raise(Alarm.Kind.FAILED, id, detail);
        stopping = true;
        signal();
    }

    /**
     * An output buffer provider is going away: this protection's buffers from it are dropped, not closed (the
     * provider leaves its hold in the kernel for its next version). Until {@link #attachMissingOutputs()} the
     * kernel holds or drops the interface's output; nothing is released.
     */
    void outputProviderGone(OutputBufferProvider p) {
        for (Output o : outputs) {
            if (o.provider == p && o.buffer != null) {
                o.buffer = null;
                LOG.info("{}: the output buffer of {} ('{}') went away; its output is held by the kernel until a "
                        + "provider adopts it", id, o.nic.name(), p.name());
            }
        }
    }

    /** Attaches every interface whose buffer went away to the best provider now (which adopts the hold). */
    void attachMissingOutputs() {
        for (Output o : outputs) {
            if (o.buffer != null) {
                continue;
            }
            try {
                Output attached = node.attachOutput(o.nic);
                if (passing) {
                    attached.buffer.passThrough();
                }
                o.provider = attached.provider;
                o.buffer = attached.buffer;
                LOG.info("{}: output of {} held by '{}' again", id, o.nic.name(), attached.provider.name());
            } catch (OutputBufferException | RuntimeException e) {
                LOG.warn("{}: no output buffer for {} yet: {}", id, o.nic.name(), e.getMessage());
            }
        }
    }

    /** The failure detector changed: heartbeats to the backup go through the new one. */
    void detectorChanged() {
        FailureDetector.Monitor m = backupMonitor;
        backupMonitor = null;
        if (m != null) {
            try {
                m.close();
            } catch (RuntimeException e) {
                LOG.debug("Closing a monitor of the old failure detector failed", e);
            }
        }
        String backup = backupNode;
        if (backup != null && !stopping) {
            watchBackup(backup);
        }
    }

    /**
     * The engine is being updated: stops the loop at an epoch boundary after giving the checkpoints in flight a
     * moment to be acknowledged, and lets go of everything without ending the protection: the stream ends with an
     * ERROR (the backup keeps its replica), output stays held (detached), the domain keeps running with its dirty log
     * (detached). Returns what the next engine needs, or null when the protection had ended anyway.
     */
    HandedOver handOver() throws InterruptedException {
        handingOver = true;
        stop();
        if (state == ProtectionState.FAILED || state == ProtectionState.FENCED || !handedOver) {
            return null;
        }
        return new HandedOver(id, peer, heartbeat, intervalMs, options, verify, lineage, nextEpoch, lastAcked,
                lastCheckpointed, resumable, passing, takenOver, new java.util.TreeMap<>(unackedPages));
    }

    private volatile boolean handedOver;

    private void handOverShutdown(Session s) {
        FailureDetector.Monitor m = backupMonitor;
        backupMonitor = null;
        if (m != null) {
            m.close();
        }
        if (s != null) {
            s.closePlanned("the primary's engine is being updated; the stream resumes with its next version");
        }
        // the disks' write logs end with their primary sides: the next engine copies the disks whole
        closeDisks();
        for (Output o : outputs) {
            o.each(OutputBuffer::detach);
        }
        domainLock.lock();
        try {
            ProtectedDomain d = domain;
            if (d != null) {
                d.detach();
            }
        } finally {
            domainLock.unlock();
        }
        handedOver = true;
        state = ProtectionState.STOPPED;
        detail = "handed over to the next engine";
        LOG.info("Protection of {} handed over at checkpoint {} (acknowledged {}, {} checkpoints unacknowledged)", id,
                lastCheckpointed, lastAcked, unackedPages.size());
    }

    // ------------------------------------------------------------------------------------------------ one stream

    /** One connection to the backup: the channel, its sender thread, its staging buffers. */
    private final class Session {

        final CheckpointChannel channel;
        final StagingBuffer[] staging;
        final ExecutorService sender;
        /** The last sign of the backup's progress: the stream's start, the initial copy's end, an ACK. */
        volatile long progressNanos = System.nanoTime();
        /** What the stream had written when progress was last judged by bytes. */
        long bytesOut;
        /** Whether the backup acknowledged anything on this stream (the initial copy included). */
        volatile boolean acked;
        volatile long initialEpoch = Long.MAX_VALUE;
        /** The committed epoch the backup resumed this stream from, or -1 when it starts with an initial copy. */
        volatile long resumedFrom = -1;
        /** Pages and disk writes of unacknowledged checkpoints that the first checkpoint of a resumed stream carries. */
        volatile long[] resendPages;
        volatile List<List<DiskWrite>> resendWrites;
        volatile long sentThrough = -1;
        volatile Throwable failure;
        volatile boolean closing;

        Session(CheckpointChannel channel, int pageSize) {
            this.channel = channel;
            this.staging = new StagingBuffer[] {new StagingBuffer(pageSize, 64), new StagingBuffer(pageSize, 64)};
            this.sender = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "romulus-sender-" + id);
                t.setDaemon(true);
                return t;
            });
        }

        void check() throws LinkLostException {
            Throwable f = failure;
            if (f != null) {
                throw new LinkLostException(f.getMessage() == null ? f.toString() : f.getMessage(), f);
            }
        }

        <T> T send(Send<T> op) throws InterruptedException, LinkLostException {
            try {
                return op.run();
            } catch (CheckpointException e) {
                fail(e);
                throw new LinkLostException(e.getMessage(), e);
            }
        }

        void sendAsync(long epoch, StagingBuffer buffer, byte[] deviceState, List<List<DiskWrite>> diskWrites) {
            sender.execute(() -> {
                try {
                    channel.sendPages(epoch, buffer.pfns(), 0, buffer.pageCount(), buffer.pages());
                    channel.sendDeviceState(epoch, deviceState);
                    for (int i = 0; i < diskWrites.size(); i++) {
                        if (!diskWrites.get(i).isEmpty()) {
                            channel.sendDiskWrites(epoch, i, diskWrites.get(i));
                        }
                    }
                    EpochTransfer t = channel.endEpoch(epoch, false);
                    history.transferred(epoch, t.rawBytes(), t.wireBytes());
                    sentThrough = epoch;
                    signal();
                } catch (CheckpointException e) {
                    fail(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    fail(new CheckpointException("sending interrupted"));
                } catch (RuntimeException e) {
                    LOG.error("Sending epoch {} of {} failed", epoch, id, e);
                    fail(e);
                }
            });
        }

        void fail(Throwable cause) {
            if (failure == null && !closing) {
                failure = cause;
            }
            signal();
        }

        void close() {
            close(null);
        }

        /** Closes with an ERROR marked as a planned stop: the backup keeps its replica and holds back failover. */
        void closePlanned(String reason) {
            closing = true;
            sender.shutdownNow();
            channel.stopPlanned(reason);
            try {
                sender.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** Closes with GOODBYE, or with an ERROR carrying {@code abortReason} when that is not null. */
        void close(String abortReason) {
            closing = true;
            sender.shutdownNow();
            if (abortReason == null) {
                channel.close();
            } else {
                channel.abort(abortReason);
            }
            try {
                sender.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @FunctionalInterface
    private interface Send<T> {
        T run() throws CheckpointException, InterruptedException;
    }

    /** ACKs and the end of the stream, on a transport thread. */
    private final class AckHandler implements AckListener {

        volatile Session session;

        @Override
        public void acknowledged(long epoch) {
            Session s = session;
            if (s != null) {
                s.progressNanos = System.nanoTime();
                s.acked = true;
            }
            if (s == null || epoch == s.initialEpoch) {
                // the initial copy is not a consistent state: its ACK releases nothing
                signal();
                return;
            }
            if (epoch <= lastAcked) {
                return;
            }
            lastAcked = epoch;
            outputs.forEach(o -> o.each(b -> b.release(epoch)));
            unackedPages.headMap(epoch, true).clear();
            unackedWrites.headMap(epoch, true).clear();
            resumable = true;
            Long end = pauseEnds.remove(epoch);
            if (end != null) {
                history.acknowledged(epoch, System.nanoTime() - end);
            }
            pauseEnds.keySet().removeIf(e -> e < epoch);
            FailureDetector.Monitor m = backupMonitor;
            if (m != null) {
                m.alive();
            }
            ProtectionState was = state;
            if (was == ProtectionState.SYNCING || was == ProtectionState.DEGRADED
                    || was == ProtectionState.UNPROTECTED) {
                state = ProtectionState.PROTECTED;
                detail = "";
                LOG.info("{} is PROTECTED: checkpoint {} acknowledged by the backup at {}", id, epoch, hostPort(peer));
                if (raisedUnprotected) {
                    raisedUnprotected = false;
                    node.alarms().raise(Alarm.Kind.PROTECTED, id, "protected again: checkpoint " + epoch
                            + " acknowledged by the backup at " + hostPort(peer));
                }
            }
            signal();
        }

        @Override
        public void closed(Throwable cause) {
            Session s = session;
            if (s != null) {
                s.fail(cause != null ? cause : new CheckpointException("the backup ended the stream"));
            }
        }
    }

    /** The stream to the backup broke; the loop reconnects. */
    private static final class LinkLostException extends Exception {

        private static final long serialVersionUID = 1L;

        LinkLostException(String message) {
            super(message);
        }

        LinkLostException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Another node runs the domain now: this node must stop its copy without releasing output. */
    private static final class FencedException extends Exception {

        private static final long serialVersionUID = 1L;

        FencedException(String message) {
            super(message);
        }
    }
}
