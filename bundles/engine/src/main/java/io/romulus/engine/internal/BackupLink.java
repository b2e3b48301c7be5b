package io.romulus.engine.internal;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The link to the backup: connects and reconnects, tells the backup in HELLO what it needs (disks, lineage, where to
 * protect the domain back to, which replica to resume), and checks its answer. While no backup answers, output is
 * held until the link timeout and then passes, unprotected, as far as the {@link ReleaseGuard} allows (I4).
 *
 * <p>Resuming (ARCHITECTURE.md section 8): a new stream asks the backup to resume the replica it already holds
 * ({@value PrimaryProtection#LINEAGE_OPTION}, {@value PrimaryProtection#RESUME_OPTION}); when the backup agrees,
 * there is no initial copy: the first checkpoint carries every page written since the replica's epoch, and the
 * disks' unacknowledged writes again. A stream broken by a bundle update therefore costs a few checkpoints, not a
 * copy.
 */
final class BackupLink {

    private static final Logger LOG = LoggerFactory.getLogger(BackupLink.class);

    private final DomainId id;
    private final InetSocketAddress peer;
    private final Map<String, String> options;
    private final String lineage;
    private final EngineSettings settings;
    private final DomainInfo info;
    private final PrimaryProtection.Node node;
    private final UnackedCheckpoints ledger;
    private final DiskCheckpoints disks;
    private final OutputCommit outputs;
    private final ReleaseGuard guard;
    private final BackupHeartbeats heartbeats;
    private final PrimaryStatus status;
    private final EpochHistory history;
    private final LoopSignal signal;
    /** The backup asked for a switchover to itself. */
    private final Runnable switchoverAsked;
    /** The stream a switchover opened ahead for the first connection attempt, or null. */
    private volatile PreOpenedStream preOpened;

    BackupLink(DomainId id, InetSocketAddress peer, Map<String, String> options, String lineage,
            EngineSettings settings, DomainInfo info, PrimaryProtection.Node node, UnackedCheckpoints ledger,
            DiskCheckpoints disks, OutputCommit outputs, ReleaseGuard guard, BackupHeartbeats heartbeats,
            PrimaryStatus status, EpochHistory history, LoopSignal signal, Runnable switchoverAsked) {
        this.switchoverAsked = switchoverAsked;
        this.id = id;
        this.peer = peer;
        this.options = Map.copyOf(options);
        this.lineage = lineage;
        this.settings = settings;
        this.info = info;
        this.node = node;
        this.ledger = ledger;
        this.disks = disks;
        this.outputs = outputs;
        this.guard = guard;
        this.heartbeats = heartbeats;
        this.status = status;
        this.history = history;
        this.signal = signal;
    }

    /**
     * Connects, or reconnects, holding output until the link timeout and then running unprotected (I4); null when
     * the protection stops meanwhile. The stream's ACKs go to {@code acks}.
     */
    PrimaryStream connect(long lostSince, boolean reconnecting, BackupAcks.Receiver acks)
            throws InterruptedException, FencedException {
        boolean warnedUnprotected = false;
        String lastFailure = null;
        while (!signal.stopping()) {
            if (status.state() == ProtectionState.UNPROTECTED && !guard.allowsRelease()) {
                // the lease could not be confirmed: the backup may be taking over, so nothing more leaves (I5)
                outputs.hold();
                status.set(ProtectionState.DEGRADED, "the witness did not confirm this node's lease; output held: "
                        + guard.lastProblem());
                warnedUnprotected = false;
            }
            CheckpointTransport t = node.transport();
            String noDisk = disks.missingReplicator();
            if (t == null) {
                status.detail("waiting for a checkpoint transport service");
            } else if (noDisk != null) {
                status.detail("waiting for a disk replicator: " + noDisk);
            } else {
                try {
                    return open(t, reconnecting, acks);
                } catch (DomainTakenOverException e) {
                    throw new FencedException(e.getMessage());
                } catch (CheckpointException e) {
                    String prefix = status.state() == ProtectionState.UNPROTECTED ? "UNPROTECTED: "
                            : reconnecting ? "backup lost; " : "";
                    status.detail(prefix + "cannot reach the backup at " + PrimaryProtection.hostPort(peer) + ": "
                            + e.getMessage());
                    if (!e.getMessage().equals(lastFailure)) {
                        lastFailure = e.getMessage();
                        LOG.warn("Connecting {} to its backup at {} failed: {}; retrying every {} ms", id,
                                PrimaryProtection.hostPort(peer), e.getMessage(), settings.reconnectDelayMs());
                    }
                    LOG.debug("Connecting {} to {} failed", id, PrimaryProtection.hostPort(peer), e);
                }
            }
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lostSince);
            if (!warnedUnprotected && waited >= settings.linkTimeoutMs()) {
                if (!guard.allowsRelease()) {
                    status.set(ProtectionState.DEGRADED, "backup lost and the witness did not confirm this node's "
                            + "lease; output held: " + guard.lastProblem());
                } else {
                    warnedUnprotected = true;
                    status.detail("UNPROTECTED: " + status.detail());
                    if (status.state() != ProtectionState.UNPROTECTED) {
                        outputs.pass();
                        status.unprotected("no backup at " + PrimaryProtection.hostPort(peer) + " for " + waited
                                + " ms; held output released and the domain runs unprotected. Protection resumes"
                                + " when the backup returns (a full copy unless it still holds its replica).");
                    }
                }
            } else if (status.state() != ProtectionState.UNPROTECTED) {
                status.state(reconnecting ? ProtectionState.DEGRADED : ProtectionState.CONNECTING);
            }
            signal.awaitNanos(TimeUnit.MILLISECONDS.toNanos(settings.reconnectDelayMs()));
        }
        PreOpenedStream pre = preOpened;
        preOpened = null;
        if (pre != null) {
            pre.discard("the protection stopped before it connected");
        }
        return null;
    }

    /** One attempt: HELLO with the engine's options, and the backup's answer to the resume request checked. */
    private PrimaryStream open(CheckpointTransport t, boolean reconnecting, BackupAcks.Receiver receiver)
            throws CheckpointException, InterruptedException {
        // resolved on every attempt, so a backup's name may move to another address
        InetSocketAddress target = new InetSocketAddress(peer.getHostString(), peer.getPort());
        if (target.isUnresolved()) {
            throw new CheckpointException("cannot resolve " + peer.getHostString());
        }
        long[] range = ledger.resumeRange();
        Hello hello = hello(settings.nodeId(), id, info.memoryBytes(), info.pageSize(), options, disks.disks(),
                lineage, range, target, t);
        BackupAcks acks = new BackupAcks(receiver, signal, switchoverAsked);
        PreOpenedStream pre = preOpened;
        preOpened = null;
        CheckpointChannel channel;
        if (pre != null && pre.hello().equals(hello)) {
            channel = pre.take(acks, PrimaryProtection.switchoverTimeoutMs(settings));
        } else {
            if (pre != null) {
                pre.discard("this node's HELLO differs from the one it was opened with");
            }
            channel = t.connect(target, hello, acks);
        }
        PrimaryStream s = new PrimaryStream(id, channel, info.pageSize(), node.stagingSegmentBytes(), history,
                signal);
        HelloReply reply = channel.peer();
        if (range != null && reply.resumed()) {
            if (reply.resumedFrom() < range[0] || reply.resumedFrom() > range[1]) {
                channel.abort("resumed from checkpoint " + reply.resumedFrom() + ", outside " + range[0] + "-"
                        + ledger.lastCheckpointed());
                throw new CheckpointException("the backup resumed from checkpoint " + reply.resumedFrom()
                        + ", which this node never asked for (" + range[0] + "-" + ledger.lastCheckpointed() + ")");
            }
            s.resumedFrom(reply.resumedFrom());
        }
        acks.stream(s);
        heartbeats.watch(reply.nodeId());
        if (status.state() == ProtectionState.UNPROTECTED) {
            outputs.hold();
        }
        LOG.info("{} stream of {} to backup {} ({}) is up", reconnecting ? "Reconnected:" : "Connected:", id,
                reply.nodeId(), PrimaryProtection.hostPort(peer));
        return s;
    }

    /**
     * The HELLO of a stream of {@code id} from node {@code nodeId} to {@code target}: the binding's options, the
     * disks, the lineage, the checkpoints it can resume from ({@code range}, or null) and where this node's stream
     * listens.
     */
    static Hello hello(String nodeId, DomainId id, long memoryBytes, int pageSize, Map<String, String> options,
            List<GuestDisk> disks, String lineage, long[] range, InetSocketAddress target, CheckpointTransport t) {
        Map<String, String> helloOptions = new LinkedHashMap<>(options);
        DiskAnnouncement.announce(disks, helloOptions);
        helloOptions.put(PrimaryProtection.LINEAGE_OPTION, lineage);
        if (range != null) {
            helloOptions.put(PrimaryProtection.RESUME_OPTION, range[0] + "-" + range[1]);
        }
        String back = returnAddress(target, t);
        if (back != null) {
            helloOptions.put(PrimaryProtection.RETURN_OPTION, back);
        }
        return new Hello(nodeId, id.toString(), id.binding(), memoryBytes, pageSize, helloOptions);
    }

    /**
     * A switchover handed the domain to this node: {@code pre} is the stream back to the old primary, opened while
     * the domain was activated; the first connection attempt takes it.
     */
    void preOpened(PreOpenedStream pre) {
        preOpened = pre;
    }

    /**
     * The backup resumed the replica it holds at {@code s.resumedFrom()}: what it committed is acknowledged, and the
     * first checkpoint of the stream carries again every page and disk write of the checkpoints after it.
     */
    void resumed(PrimaryStream s) {
        long from = s.resumedFrom();
        UnackedCheckpoints.Resend again = ledger.resume(from, disks.disks().size());
        s.initialEpoch(again.fromEpoch);
        s.resend(again.pages, again.writes);
        status.set(ProtectionState.SYNCING, "stream resumed at checkpoint " + from
                + "; waiting for the first checkpoint's ACK");
        s.progressed();
        LOG.info("Resumed the stream of {} at checkpoint {} (no initial copy): {} pages of {} unacknowledged "
                + "checkpoints go again with the next one", id, from, again.pages.length, again.checkpoints);
    }

    /** Bytes this node's stream for the domain has written to its socket so far (0 when the transport cannot say). */
    long bytesOut() {
        CheckpointTransport t = node.transport();
        if (t == null) {
            return 0;
        }
        String domainName = id.toString();
        return t.connections().stream().filter(c -> "primary".equals(c.role()) && domainName.equals(c.domain()))
                .mapToLong(CheckpointTransport.ConnectionInfo::bytesOut).sum();
    }

    /**
     * This node's stream address as the backup can reach it: the source address the kernel picks for the backup,
     * and the port this node's transport listens on; null when it cannot be told.
     */
    private static String returnAddress(InetSocketAddress backup, CheckpointTransport t) {
        InetSocketAddress listen = t.listenAddress();
        if (listen == null || listen.getPort() <= 0) {
            return null;
        }
        try (DatagramSocket probe = new DatagramSocket()) {
            probe.connect(backup); // no packet is sent: this only asks for the route
            InetAddress local = probe.getLocalAddress();
            if (local == null || local.isAnyLocalAddress()) {
                return null;
            }
            String host = local.getHostAddress();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + listen.getPort();
        } catch (IOException | RuntimeException e) {
            LOG.debug("No return address towards {}", backup, e);
            return null;
        }
    }
}
