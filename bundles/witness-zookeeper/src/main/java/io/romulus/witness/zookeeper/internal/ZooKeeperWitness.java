package io.romulus.witness.zookeeper.internal;

import static java.nio.charset.StandardCharsets.UTF_8;

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
import java.util.concurrent.atomic.AtomicInteger;

import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.BackgroundPathable;
import org.apache.curator.framework.api.CuratorEvent;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
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
 */
@Component(service = Witness.class, configurationPid = ZooKeeperWitness.PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE)
@Designate(ocd = ZooKeeperWitnessConfig.class)
public final class ZooKeeperWitness implements Witness, AutoCloseable {

    static final String PID = "io.romulus.witness.zookeeper";

    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperWitness.class);
    private static final AtomicInteger THREADS = new AtomicInteger();
    /** A lease changing hands between our create and our read: try again at most this often within one call. */
    private static final int ATTEMPTS = 3;

    private final ZooKeeperWitnessSettings settings;
    private final CuratorFramework client;
    private final Object lock = new Object();
    /** The live leases of this client, by znode path (relative to the namespace). */
    private final Map<String, ZkLease> leases = new HashMap<>();
    /** Znodes whose deletion is under way: they are not taken over until it has finished. */
    private final Set<String> releasing = new HashSet<>();
    private volatile boolean closed;

    @Activate
    public ZooKeeperWitness(ZooKeeperWitnessConfig config) {
        this(ZooKeeperWitnessSettings.of(config));
    }

    /** Starts connecting to the ensemble; does not wait for the connection (calls wait for it, bounded). */
    public ZooKeeperWitness(ZooKeeperWitnessSettings settings) {
        this.settings = settings;
        this.client = CuratorFrameworkFactory.builder()
                .connectString(settings.connectString())
                .namespace(settings.namespace())
                .sessionTimeoutMs(settings.sessionTimeoutMs())
                .connectionTimeoutMs(settings.connectionTimeoutMs())
                // a call's own deadline bounds it; a retry only helps across a short connection loss
                .retryPolicy(new RetryNTimes(1, 100))
                .waitForShutdownTimeoutMs((int) Math.min(Integer.MAX_VALUE, settings.operationTimeoutMs()))
                // the configured connect string is authoritative, not what the ensemble's dynamic config says
                .ensembleTracker(false)
                .threadFactory(r -> {
                    Thread t = new Thread(r, "romulus-witness-zookeeper-" + THREADS.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                })
                .build();
        client.getConnectionStateListenable().addListener((c, state) -> stateChanged(state));
        client.start();
        LOG.info("witness {} started, connecting", describe());
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
        client.close();
        LOG.info("witness {} stopped", describe());
    }

    @Override
    public String describe() {
        return "ZooKeeper " + settings.connectString() + "/" + settings.namespace() + " (session "
                + settings.sessionTimeoutMs() + " ms)";
    }

    /** The settings in force. */
    public ZooKeeperWitnessSettings settings() {
        return settings;
    }

    /** Whether the client is connected to a ZooKeeper server now. */
    public boolean connected() {
        return !closed && client.getZookeeperClient().isConnected();
    }

    /** The id of the current ZooKeeper session, 0 when there is none. */
    long sessionId() {
        try {
            return client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            return 0;
        }
    }

    /** The Curator client, for tests. */
    CuratorFramework curator() {
        return client;
    }

    @Override
    public Optional<Lease> tryAcquire(String domain, String nodeId) throws WitnessException {
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("a lease needs a node id");
        }
        String path = LeaseNames.path(domain);
        long deadline = deadline();
        synchronized (lock) {
            ZkLease live = leases.get(path);
            if (live != null && live.held()) {
                return live.nodeId.equals(nodeId) ? Optional.of(live) : Optional.empty();
            }
        }
        String what = "take the lease of domain " + domain;
        awaitConnected(deadline, what);
        byte[] data = nodeId.getBytes(UTF_8);
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            notReleasing(path, what);
            CuratorEvent created = await(create(domain, nodeId, path, data), deadline, what);
            KeeperException.Code rc = code(created);
            if (rc == KeeperException.Code.OK) {
                long owner = created.getStat() != null ? created.getStat().getEphemeralOwner() : sessionId();
                return Optional.of(register(new ZkLease(domain, nodeId, path, owner), false));
            }
            if (rc != KeeperException.Code.NODEEXISTS) {
                throw failed(what, rc);
            }
            CuratorEvent read = await(getData(path, false), deadline, what);
            rc = code(read);
            if (rc == KeeperException.Code.NONODE) {
                continue; // released between our create and our read
            }
            if (rc != KeeperException.Code.OK) {
                throw failed(what, rc);
            }
            String holder = new String(read.getData(), UTF_8);
            long owner = read.getStat().getEphemeralOwner();
            if (holder.equals(nodeId) && owner != 0 && owner == sessionId()) {
                // ours: created by an earlier call whose answer came too late, or by a retried create
                return Optional.of(register(new ZkLease(domain, nodeId, path, owner), true));
            }
            if (holder.equals(nodeId)) {
                LOG.info("lease of domain {} is still held by node {}'s earlier ZooKeeper session 0x{}; it ends when "
                        + "that session expires", domain, nodeId, Long.toHexString(owner));
            } else {
                LOG.debug("lease of domain {} is held by node {}, not {}", domain, holder, nodeId);
            }
            return Optional.empty();
        }
        throw new WitnessException("cannot " + what + ": it changed hands " + ATTEMPTS + " times in a row");
    }

    @Override
    public Optional<String> holder(String domain) throws WitnessException {
        return readNow(LeaseNames.path(domain), "look up the holder of domain " + domain)
                .map(read -> new String(read.getData(), UTF_8));
    }

    /** The lease znode {@code path} as the leader has it now (read after a sync), or empty if there is none. */
    private Optional<CuratorEvent> readNow(String path, String what) throws WitnessException {
        long deadline = deadline();
        awaitConnected(deadline, what);
        CuratorEvent read = await(getData(path, true), deadline, what);
        KeeperException.Code rc = code(read);
        if (rc == KeeperException.Code.NONODE) {
            return Optional.empty();
        }
        if (rc != KeeperException.Code.OK) {
            throw failed(what, rc);
        }
        return Optional.of(read);
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

    // ---- bounded ZooKeeper calls

    private long deadline() {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.operationTimeoutMs());
    }

    private void awaitConnected(long deadline, String what) throws WitnessException {
        if (closed) {
            throw new WitnessException("cannot " + what + ": the witness is closed");
        }
        if (client.getZookeeperClient().isConnected()) {
            return;
        }
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        try {
            if (left <= 0 || !client.blockUntilConnected((int) Math.min(Integer.MAX_VALUE, left),
                    TimeUnit.MILLISECONDS)) {
                throw new WitnessException("cannot " + what + ": not connected to ZooKeeper "
                        + settings.connectString() + " (waited " + settings.operationTimeoutMs() + " ms)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new WitnessException("cannot " + what + ": interrupted", e);
        }
    }

    private static CuratorEvent await(CompletableFuture<CuratorEvent> answer, long deadline, String what)
            throws WitnessException {
        try {
            return answer.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            answer.cancel(false);
            throw new WitnessException("cannot " + what + ": ZooKeeper did not answer in time");
        } catch (ExecutionException e) {
            throw new WitnessException("cannot " + what + ": " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            answer.cancel(false);
            Thread.currentThread().interrupt();
            throw new WitnessException("cannot " + what + ": interrupted", e);
        }
    }

    private static KeeperException.Code code(CuratorEvent event) {
        return KeeperException.Code.get(event.getResultCode());
    }

    private WitnessException failed(String what, KeeperException.Code rc) {
        return new WitnessException("cannot " + what + ": " + KeeperException.create(rc).getMessage() + " ("
                + settings.connectString() + ")");
    }

    private void notReleasing(String path, String what) throws WitnessException {
        synchronized (lock) {
            if (releasing.contains(path)) {
                throw new WitnessException("cannot " + what + ": this node is still giving it up");
            }
        }
    }

    /** Creates the lease znode; if the caller has given up by the time it exists, deletes it again. */
    private CompletableFuture<CuratorEvent> create(String domain, String nodeId, String path, byte[] data) {
        CompletableFuture<CuratorEvent> answer = new CompletableFuture<>();
        try {
            client.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .inBackground((c, event) -> {
                        if (!answer.complete(event) && code(event) == KeeperException.Code.OK) {
                            orphaned(domain, nodeId, path, event.getStat());
                        }
                    }).forPath(path, data);
        } catch (Exception e) {
            answer.completeExceptionally(e);
        }
        return answer;
    }

    /** Reads the znode, after a sync with the leader when {@code fresh} (ZooKeeper followers may lag). */
    private CompletableFuture<CuratorEvent> getData(String path, boolean fresh) {
        CompletableFuture<CuratorEvent> answer = new CompletableFuture<>();
        if (!fresh) {
            start(client.getData(), path, answer);
            return answer;
        }
        try {
            client.sync().inBackground((c, event) -> {
                KeeperException.Code rc = code(event);
                if (rc == KeeperException.Code.OK || rc == KeeperException.Code.NONODE) {
                    start(client.getData(), path, answer);
                } else {
                    answer.complete(event);
                }
            }).forPath(path);
        } catch (Exception e) {
            answer.completeExceptionally(e);
        }
        return answer;
    }

    private static void start(BackgroundPathable<?> op, String path, CompletableFuture<CuratorEvent> answer) {
        try {
            op.inBackground((c, event) -> answer.complete(event)).forPath(path);
        } catch (Exception e) {
            answer.completeExceptionally(e);
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
        deleteOwn(path, owner, null);
    }

    /**
     * Deletes {@code path} if the session {@code owner} still owns it, through that session's own handle (no retry on
     * another session); always clears {@code path} from {@link #releasing} when ZooKeeper has answered.
     */
    private void deleteOwn(String path, long owner, CompletableFuture<KeeperException.Code> done) {
        String full = ZKPaths.fixForNamespace(client.getNamespace(), path);
        ZooKeeper zk;
        try {
            zk = client.getZookeeperClient().getZooKeeper();
        } catch (Exception e) {
            zk = null;
        }
        if (zk == null || zk.getSessionId() != owner) {
            // that session has ended, and its ephemeral znodes with it
            finishRelease(path, KeeperException.Code.SESSIONEXPIRED, done);
            return;
        }
        ZooKeeper session = zk;
        try {
            session.getData(full, false, (rc, p, ctx, data, stat) -> {
                KeeperException.Code code = KeeperException.Code.get(rc);
                if (code != KeeperException.Code.OK) {
                    finishRelease(path, code, done);
                } else if (stat.getEphemeralOwner() != owner) {
                    finishRelease(path, KeeperException.Code.NONODE, done); // someone else's now
                } else {
                    session.delete(full, stat.getVersion(),
                            (rc2, p2, ctx2) -> finishRelease(path, KeeperException.Code.get(rc2), done), null);
                }
            }, null);
        } catch (RuntimeException e) {
            LOG.debug("deleting {} failed", full, e);
            finishRelease(path, KeeperException.Code.SYSTEMERROR, done);
        }
    }

    private void finishRelease(String path, KeeperException.Code rc, CompletableFuture<KeeperException.Code> done) {
        synchronized (lock) {
            releasing.remove(path);
        }
        if (done != null) {
            done.complete(rc);
        }
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
            CuratorEvent read = now.get();
            String holder = new String(read.getData(), UTF_8);
            long owner = read.getStat().getEphemeralOwner();
            if (owner == session && holder.equals(nodeId) && session == sessionId()) {
                return held(); // closed or lost meanwhile: no
            }
            ended("node " + holder + " holds it now (ZooKeeper session 0x" + Long.toHexString(owner) + ")");
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
            CompletableFuture<KeeperException.Code> done = new CompletableFuture<>();
            deleteOwn(path, session, done);
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
