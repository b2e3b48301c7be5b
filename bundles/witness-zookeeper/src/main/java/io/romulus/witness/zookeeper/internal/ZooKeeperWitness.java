package io.romulus.witness.zookeeper.internal;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.CuratorEvent;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Witness} on a ZooKeeper ensemble, through Apache Curator. The lease of a domain is the EPHEMERAL znode
 * {@code <namespace>/leases/<domain>} whose data is the holder's node id: it exists exactly as long as the holder's
 * ZooKeeper session, so a frozen or cut-off primary loses its leases {@code session.timeout.ms} after ZooKeeper last
 * heard from it, and only then can a backup take them.
 *
 * <p>Every call waits at most {@code operation.timeout.ms} (the client's connection counts against it) and throws
 * {@link WitnessException} when ZooKeeper did not answer in time. Calls run as Curator background operations, so a
 * call that gave up leaves no thread behind; a lease znode created after its caller gave up is deleted again.
 *
 * <p>A lease znode is only ever deleted through the ZooKeeper handle of the session that owns it (never retried on
 * a new session), so a node cannot delete the lease a successor took after its own session expired.
 *
 * <p>Usable without OSGi: {@code new ZooKeeperWitness(ZooKeeperWitnessSettings.defaults("127.0.0.1:2181"))}, closed
 * with {@link #close()}. Closing ends the ZooKeeper session, which ends every lease it held.
 *
 * <p>This class is the lease policy (when a lease is taken, confirmed, lost and given back); {@link ZooKeeperSession}
 * is the session and its bounded calls, {@link LeaseZnode} what a lease znode says.
 */
@Component(service = Witness.class, configurationPid = ZooKeeperWitness.PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE)
@Designate(ocd = ZooKeeperWitnessConfig.class)
public final class ZooKeeperWitness implements Witness, AutoCloseable {

    static final String PID = "io.romulus.witness.zookeeper";

    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperWitness.class);
    /** A lease changing hands between our create and our read: try again at most this often within one call. */
    private static final int ATTEMPTS = 3;

    private final ZooKeeperWitnessSettings settings;
    private final ZooKeeperSession session;
    private final Object lock = new Object();
    /** The live leases of this client, by znode path (relative to the namespace). */
    @GuardedBy("lock")
    private final Map<String, ZkLease> leases = new HashMap<>();
    /** Znodes whose deletion is under way: they are not taken over until it has finished. */
    @GuardedBy("lock")
    private final Set<String> releasing = new HashSet<>();
    /** Set once, under {@link #lock}; read without it. */
    private volatile boolean closed;

    @Activate
    public ZooKeeperWitness(ZooKeeperWitnessConfig config) {
        this(ZooKeeperWitnessSettings.of(config));
    }

    /** Starts connecting to the ensemble; does not wait for the connection (calls wait for it, bounded). */
    public ZooKeeperWitness(ZooKeeperWitnessSettings settings) {
        this.settings = settings;
        this.session = new ZooKeeperSession(settings, this::stateChanged);
        session.start();
        if (settings.credentials().isPresent()) {
            LOG.info("witness {} started, connecting", describe());
        } else {
            LOG.warn("witness {} started without auth.user: its leases are open to anyone who can reach ZooKeeper, "
                    + "who can delete or take them (see etc/io.romulus.witness.zookeeper.cfg.example)", describe());
        }
    }

    /** Ends the ZooKeeper session, and with it every lease this client held. */
    @Deactivate
    @Override
    public void close() {
        List<ZkLease> ended;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            ended = new ArrayList<>(leases.values());
            leases.clear();
        }
        for (ZkLease l : ended) {
            l.closed = true;
            LOG.info("lease of domain {} for node {} released: the witness is stopping", l.domain, l.nodeId);
        }
        session.close();
        LOG.info("witness {} stopped", describe());
    }

    @Override
    public String describe() {
        return "ZooKeeper " + settings.connectString() + "/" + settings.namespace() + " (session "
                + settings.sessionTimeoutMs() + " ms" + settings.credentials().map(c -> ", user " + c.user()).orElse("")
                + ")";
    }

    /** The settings in force. */
    public ZooKeeperWitnessSettings settings() {
        return settings;
    }

    /** Whether the client is connected to a ZooKeeper server now. */
    public boolean connected() {
        return !closed && session.connected();
    }

    /** The id of the current ZooKeeper session, 0 when there is none. */
    long sessionId() {
        return session.sessionId();
    }

    /** The Curator client, for tests. */
    CuratorFramework curator() {
        return session.curator();
    }

    @Override
    public Optional<Lease> tryAcquire(String domain, String nodeId) throws WitnessException {
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("a lease needs a node id");
        }
        String path = LeaseNames.path(domain);
        long deadline = session.deadline();
        synchronized (lock) {
            ZkLease live = leases.get(path);
            if (live != null && live.held()) {
                return live.nodeId.equals(nodeId) ? Optional.of(live) : Optional.empty();
            }
        }
        String what = "take the lease of domain " + domain;
        awaitConnected(deadline, what);
        session.awaitProtected(deadline, what);
        byte[] data = LeaseZnode.data(nodeId);
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            notReleasing(path, what);
            CuratorEvent created = ZooKeeperSession.await(session.createEphemeral(path, data,
                    stat -> orphaned(domain, nodeId, path, stat)), deadline, what);
            KeeperException.Code rc = ZooKeeperSession.code(created);
            if (rc == KeeperException.Code.OK) {
                long owner = created.getStat() != null ? created.getStat().getEphemeralOwner() : sessionId();
                return Optional.of(register(new ZkLease(domain, nodeId, path, owner), false));
            }
            if (rc != KeeperException.Code.NODEEXISTS) {
                throw session.failed(what, rc);
            }
            CuratorEvent read = ZooKeeperSession.await(session.getData(path, false), deadline, what);
            rc = ZooKeeperSession.code(read);
            if (rc == KeeperException.Code.NONODE) {
                continue; // released between our create and our read
            }
            if (rc != KeeperException.Code.OK) {
                throw session.failed(what, rc);
            }
            LeaseZnode znode = LeaseZnode.of(read);
            if (znode.owner() != 0 && znode.heldBy(nodeId, sessionId())) {
                // ours: created by an earlier call whose answer came too late, or by a retried create
                return Optional.of(register(new ZkLease(domain, nodeId, path, znode.owner()), true));
            }
            if (znode.holder().equals(nodeId)) {
                LOG.info("lease of domain {} is still held by node {}'s earlier ZooKeeper session 0x{}; it ends when "
                        + "that session expires", domain, nodeId, Long.toHexString(znode.owner()));
            } else {
                LOG.debug("lease of domain {} is held by node {}, not {}", domain, znode.holder(), nodeId);
            }
            return Optional.empty();
        }
        throw new WitnessException("cannot " + what + ": it changed hands " + ATTEMPTS + " times in a row");
    }

    @Override
    public Optional<String> holder(String domain) throws WitnessException {
        return readNow(LeaseNames.path(domain), "look up the holder of domain " + domain).map(LeaseZnode::holder);
    }

    /** The lease znode {@code path} as the leader has it now (read after a sync), or empty if there is none. */
    private Optional<CuratorEvent> readNow(String path, String what) throws WitnessException {
        long deadline = session.deadline();
        awaitConnected(deadline, what);
        CuratorEvent read = ZooKeeperSession.await(session.getData(path, true), deadline, what);
        KeeperException.Code rc = ZooKeeperSession.code(read);
        if (rc == KeeperException.Code.NONODE) {
            return Optional.empty();
        }
        if (rc != KeeperException.Code.OK) {
            throw session.failed(what, rc);
        }
        return Optional.of(read);
    }

    private void awaitConnected(long deadline, String what) throws WitnessException {
        if (closed) {
            throw new WitnessException("cannot " + what + ": the witness is closed");
        }
        session.awaitConnected(deadline, what);
    }

    /**
     * Makes {@code lease} live. A znode taken back (created earlier by this session, its answer lost) is refused
     * while this node is deleting it.
     */
    private ZkLease register(ZkLease lease, boolean takenBack) throws WitnessException {
        String verb = takenBack ? "taken back" : "taken";
        boolean stale;
        synchronized (lock) {
            if (takenBack && releasing.contains(lease.path)) {
                throw new WitnessException("cannot take the lease of domain " + lease.domain
                        + ": this node is still giving it up");
            }
            stale = closed || lease.session != sessionId();
            if (!stale) {
                leases.put(lease.path, lease);
            }
        }
        if (stale) {
            // the session ended (or the witness closed) while the znode was being created: it goes with it
            lease.lost = true;
            LOG.warn("lease of domain {} for node {} {} but already ended: ZooKeeper session 0x{} is gone",
                    lease.domain, lease.nodeId, verb, Long.toHexString(lease.session));
        } else {
            LOG.info("lease of domain {} {} for node {} (ZooKeeper session 0x{})", lease.domain, verb, lease.nodeId,
                    Long.toHexString(lease.session));
        }
        return lease;
    }

    private void stateChanged(ConnectionState state) {
        switch (state) {
            case CONNECTED, RECONNECTED -> LOG.info("witness {}: {}, session 0x{}", describe(),
                    state == ConnectionState.CONNECTED ? "connected" : "reconnected", Long.toHexString(sessionId()));
            case SUSPENDED -> LOG.warn("witness {}: connection suspended; leases held last at most until the "
                    + "session expires", describe());
            case LOST -> {
                List<ZkLease> lost;
                synchronized (lock) {
                    lost = new ArrayList<>(leases.values());
                    leases.clear();
                }
                LOG.warn("witness {}: ZooKeeper session lost (expired)", describe());
                for (ZkLease l : lost) {
                    l.ended("the ZooKeeper session 0x" + Long.toHexString(l.session) + " expired; another node may "
                            + "take it now");
                }
            }
            default -> LOG.debug("witness {}: {}", describe(), state);
        }
    }

    private void notReleasing(String path, String what) throws WitnessException {
        synchronized (lock) {
            if (releasing.contains(path)) {
                throw new WitnessException("cannot " + what + ": this node is still giving it up");
            }
        }
    }

    /** A lease znode whose creation the caller gave up on: nobody knows of it, so it is deleted. */
    private void orphaned(String domain, String nodeId, String path, Stat stat) {
        long owner = stat != null ? stat.getEphemeralOwner() : sessionId();
        synchronized (lock) {
            if (leases.containsKey(path) || closed) {
                return;
            }
            releasing.add(path);
        }
        LOG.info("lease of domain {} for node {} taken after the caller had given up: giving it back", domain,
                nodeId);
        CompletableFuture<KeeperException.Code> unused = deleteOwn(path, owner); // nobody waits for it
    }

    /**
     * Deletes {@code path} if the session {@code owner} still owns it ({@link ZooKeeperSession#deleteOwn}); clears
     * {@code path} from {@link #releasing} when ZooKeeper has answered, before the returned answer completes.
     */
    private CompletableFuture<KeeperException.Code> deleteOwn(String path, long owner) {
        return session.deleteOwn(path, owner).whenComplete((rc, e) -> {
            synchronized (lock) {
                releasing.remove(path);
            }
        });
    }

    /** One node's hold on one domain's lease: the ephemeral znode {@code path} of ZooKeeper session {@code session}. */
    private final class ZkLease implements Lease {

        final String domain;
        final String nodeId;
        final String path;
        final long session;
        volatile boolean lost;
        volatile boolean closed;

        ZkLease(String domain, String nodeId, String path, long session) {
            this.domain = domain;
            this.nodeId = nodeId;
            this.path = path;
            this.session = session;
        }

        @Override
        public String domain() {
            return domain;
        }

        @Override
        public String nodeId() {
            return nodeId;
        }

        @Override
        public boolean held() {
            return !closed && !lost && !ZooKeeperWitness.this.closed;
        }

        @Override
        public boolean confirm() throws WitnessException {
            if (!held()) {
                return false;
            }
            Optional<CuratorEvent> now = readNow(path, "confirm the lease of domain " + domain);
            if (now.isEmpty()) {
                ended("its znode is gone");
                return false;
            }
            LeaseZnode znode = LeaseZnode.of(now.get());
            if (znode.heldBy(nodeId, session) && session == sessionId()) {
                return held(); // closed or lost meanwhile: no
            }
            ended("node " + znode.holder() + " holds it now (ZooKeeper session 0x" + Long.toHexString(znode.owner())
                    + ")");
            return false;
        }

        /** The hold ended without this node giving it up. */
        void ended(String why) {
            synchronized (lock) {
                leases.remove(path, this);
            }
            if (!closed && !lost) {
                lost = true;
                LOG.warn("lease of domain {} for node {} lost: {}", domain, nodeId, why);
            }
        }

        @Override
        public void close() {
            boolean own;
            synchronized (lock) {
                if (closed) {
                    return;
                }
                closed = true;
                leases.remove(path, this);
                own = !lost && !ZooKeeperWitness.this.closed;
                if (own) {
                    releasing.add(path);
                }
            }
            if (!own) {
                LOG.info("lease of domain {} for node {} closed (it had already ended)", domain, nodeId);
                return;
            }
            CompletableFuture<KeeperException.Code> done = deleteOwn(path, session);
            try {
                KeeperException.Code rc = done.get(settings.operationTimeoutMs(), TimeUnit.MILLISECONDS);
                if (rc == KeeperException.Code.OK) {
                    LOG.info("lease of domain {} released by node {}", domain, nodeId);
                } else if (rc == KeeperException.Code.NONODE || rc == KeeperException.Code.SESSIONEXPIRED) {
                    LOG.info("lease of domain {} released by node {} (it had already ended)", domain, nodeId);
                } else {
                    LOG.warn("lease of domain {} released by node {}, but ZooKeeper answered {}: the lease ends "
                            + "when session 0x{} does", domain, nodeId, rc, Long.toHexString(session));
                }
            } catch (TimeoutException e) {
                LOG.warn("lease of domain {} released by node {}, but ZooKeeper did not confirm within {} ms: the "
                        + "lease ends when session 0x{} does", domain, nodeId, settings.operationTimeoutMs(),
                        Long.toHexString(session));
            } catch (ExecutionException e) {
                LOG.warn("lease of domain {} released by node {}: {}", domain, nodeId, e.getCause().toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public String toString() {
            return "lease of domain " + domain + " for node " + nodeId + " (session 0x" + Long.toHexString(session)
                    + (held() ? ")" : ", ended)");
        }
    }
}
