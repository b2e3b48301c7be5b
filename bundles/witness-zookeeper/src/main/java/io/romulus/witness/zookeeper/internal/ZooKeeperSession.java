package io.romulus.witness.zookeeper.internal;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import io.romulus.api.witness.WitnessException;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.ACLProvider;
import org.apache.curator.framework.api.BackgroundPathable;
import org.apache.curator.framework.api.CuratorEvent;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The witness's ZooKeeper session, through Apache Curator, and the calls it makes on it. Every call is bounded by a
 * deadline ({@code operation.timeout.ms}, the connection included) and runs as a Curator background operation, so a
 * call that gave up leaves no thread behind. An ephemeral znode is only ever deleted through the ZooKeeper handle of
 * the session that owns it ({@link #deleteOwn}), never retried on a new session.
 */
final class ZooKeeperSession implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperSession.class);
    private static final AtomicInteger THREADS = new AtomicInteger();

    private final ZooKeeperWitnessSettings settings;
    private final CuratorFramework client;
    /** How the leases are protected: empty without credentials (they are open to anyone). */
    private final Optional<LeaseProtection> protection;

    /**
     * A client of the ensemble of {@code settings}, telling {@code states} of its connection; not started. With
     * credentials, every ZooKeeper handle authenticates with them and every znode it makes carries their ACL.
     */
    ZooKeeperSession(ZooKeeperWitnessSettings settings, Consumer<ConnectionState> states) {
        this.settings = settings;
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder();
        settings.credentials().ifPresent(c -> {
            List<ACL> acl = c.acl();
            builder.authorization("digest", c.authInfo()).aclProvider(new ACLProvider() {
                @Override
                public List<ACL> getDefaultAcl() {
                    return acl;
                }

                @Override
                public List<ACL> getAclForPath(String path) {
                    return acl;
                }
            });
        });
        this.client = builder
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
        client.getConnectionStateListenable().addListener((c, state) -> states.accept(state));
        this.protection = settings.credentials().map(c -> new LeaseProtection(client, c));
    }

    /**
     * Makes sure, before a lease is taken, that nobody without the credentials can delete or take it
     * ({@link LeaseProtection}); without credentials there is nothing to make sure of.
     */
    void awaitProtected(long deadline, String what) throws WitnessException {
        if (protection.isPresent()) {
            CompletableFuture<Void> done = protection.get().ensure(sessionId());
            try {
                done.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                done.cancel(false);
                throw new WitnessException("cannot " + what + ": ZooKeeper did not answer in time");
            } catch (ExecutionException e) {
                throw new WitnessException("cannot " + what + ": " + (e.getCause() instanceof WitnessException w
                        ? w.getMessage() : e.getCause().toString()), e.getCause());
            } catch (InterruptedException e) {
                done.cancel(false);
                Thread.currentThread().interrupt();
                throw new WitnessException("cannot " + what + ": interrupted", e);
            }
        }
    }

    /** Starts connecting to the ensemble; does not wait for the connection. */
    void start() {
        client.start();
    }

    /** Ends the session, and with it every ephemeral znode it owns. */
    @Override
    public void close() {
        client.close();
    }

    boolean connected() {
        return client.getZookeeperClient().isConnected();
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

    /** The deadline of a call that starts now. */
    long deadline() {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.operationTimeoutMs());
    }

    /** Waits until connected, until {@code deadline} at most; {@code what} says what for, in the exception. */
    void awaitConnected(long deadline, String what) throws WitnessException {
        if (connected()) {
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

    /** ZooKeeper's answer, waited for until {@code deadline}. */
    static CuratorEvent await(CompletableFuture<CuratorEvent> answer, long deadline, String what)
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

    static KeeperException.Code code(CuratorEvent event) {
        return KeeperException.Code.get(event.getResultCode());
    }

    /** ZooKeeper answered {@code rc} when asked {@code what}. */
    WitnessException failed(String what, KeeperException.Code rc) {
        String hint = rc != KeeperException.Code.NOAUTH ? ""
                : settings.credentials().isEmpty() ? ": the leases are protected, and this witness has no auth.user and "
                        + "auth.password.file (see etc/io.romulus.witness.zookeeper.cfg.example)"
                : ": ZooKeeper user " + settings.credentials().get().user() + " is not the one the leases are "
                        + "protected for (auth.user and auth.password.file must be the same on every node)";
        return new WitnessException("cannot " + what + ": " + KeeperException.create(rc).getMessage() + " ("
                + settings.connectString() + ")" + hint);
    }

    /**
     * Creates the EPHEMERAL znode {@code path} (and its parents); if the znode is created after the caller has given
     * up on the answer, {@code late} gets its stat.
     */
    CompletableFuture<CuratorEvent> createEphemeral(String path, byte[] data, Consumer<Stat> late) {
        CompletableFuture<CuratorEvent> answer = new CompletableFuture<>();
        try {
            // parents PERSISTENT, not containers: ZooKeeper deletes an empty container, and anyone may make it again
            client.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .inBackground((c, event) -> {
                        if (!answer.complete(event) && code(event) == KeeperException.Code.OK) {
                            late.accept(event.getStat());
                        }
                    }).forPath(path, data);
        } catch (Exception e) {
            answer.completeExceptionally(e);
        }
        return answer;
    }

    /** Reads the znode, after a sync with the leader when {@code fresh} (ZooKeeper followers may lag). */
    CompletableFuture<CuratorEvent> getData(String path, boolean fresh) {
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

    /**
     * Deletes {@code path} if the session {@code owner} still owns it, through that session's own handle (no retry on
     * another session). The answer is ZooKeeper's: {@code SESSIONEXPIRED} if that session has ended (and its
     * ephemeral znodes with it), {@code NONODE} if the znode is gone or someone else's.
     */
    CompletableFuture<KeeperException.Code> deleteOwn(String path, long owner) {
        CompletableFuture<KeeperException.Code> done = new CompletableFuture<>();
        String full = ZKPaths.fixForNamespace(client.getNamespace(), path);
        ZooKeeper zk;
        try {
            zk = client.getZookeeperClient().getZooKeeper();
        } catch (Exception e) {
            zk = null;
        }
        if (zk == null || zk.getSessionId() != owner) {
            done.complete(KeeperException.Code.SESSIONEXPIRED);
            return done;
        }
        ZooKeeper session = zk;
        try {
            session.getData(full, false, (rc, p, ctx, data, stat) -> {
                KeeperException.Code code = KeeperException.Code.get(rc);
                if (code != KeeperException.Code.OK) {
                    done.complete(code);
                } else if (stat.getEphemeralOwner() != owner) {
                    done.complete(KeeperException.Code.NONODE); // someone else's now
                } else {
                    session.delete(full, stat.getVersion(),
                            (rc2, p2, ctx2) -> done.complete(KeeperException.Code.get(rc2)), null);
                }
            }, null);
        } catch (RuntimeException e) {
            LOG.debug("deleting {} failed", full, e);
            done.complete(KeeperException.Code.SYSTEMERROR);
        }
        return done;
    }
}
