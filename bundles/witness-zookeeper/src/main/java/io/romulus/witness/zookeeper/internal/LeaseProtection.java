package io.romulus.witness.zookeeper.internal;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.witness.WitnessException;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.CuratorEvent;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the namespace znode and {@code /leases} protected by the ACL of the witness's identity
 * ({@link DigestCredentials#acl()}: it may do everything, anyone else may only read), so that nobody without the
 * credentials can delete a lease, create one, or change what one says.
 *
 * <p>Before a lease is taken, {@link #ensure} makes {@code /leases} exist as a PERSISTENT znode (so the namespace,
 * which Curator makes as a container, is never empty and never deleted by ZooKeeper) and gives both that ACL if they
 * lack it: a namespace made by an earlier version (containers, open to anyone) migrates by itself, provided that
 * its ACL still lets this identity change it. If not, the call fails and says what the operator has to do. Once both are protected and {@code /leases} is persistent, nothing but this identity
 * (or ZooKeeper's super user) can change that, so the check is not repeated within the same ZooKeeper session. A
 * {@code /leases} that is still a container of an earlier version is checked at every call, since ZooKeeper deletes
 * it when it is empty.
 */
final class LeaseProtection {

    private static final Logger LOG = LoggerFactory.getLogger(LeaseProtection.class);
    /** {@code Stat.ephemeralOwner} of a container znode ({@code EphemeralType.CONTAINER_EPHEMERAL_OWNER}). */
    private static final long CONTAINER = Long.MIN_VALUE;

    private final CuratorFramework client;
    private final DigestCredentials credentials;
    private final List<ACL> acl;
    /** The ZooKeeper session in which both znodes were found protected and {@code /leases} persistent; 0: none. */
    private final AtomicLong securedIn = new AtomicLong();

    LeaseProtection(CuratorFramework client, DigestCredentials credentials) {
        this.client = client;
        this.credentials = credentials;
        this.acl = credentials.acl();
    }

    /** The ACL of every znode the witness makes. */
    List<ACL> acl() {
        return acl;
    }

    /**
     * Completes when the namespace and {@code /leases} exist and are protected; fails with a {@link WitnessException}
     * that says what to do when they cannot be. {@code session} is the current ZooKeeper session's id.
     */
    CompletableFuture<Void> ensure(long session) {
        if (session != 0 && securedIn.get() == session) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<CuratorEvent> created = background(r -> client.create().creatingParentsIfNeeded()
                .withMode(CreateMode.PERSISTENT).withACL(acl).inBackground(r).forPath(LeaseNames.LEASES, new byte[0]));
        return created.thenCompose(event -> {
            KeeperException.Code rc = ZooKeeperSession.code(event);
            if (rc != KeeperException.Code.OK && rc != KeeperException.Code.NODEEXISTS) {
                return CompletableFuture.failedFuture(refused(LeaseNames.LEASES, "create", rc));
            }
            CompletableFuture<Boolean> namespace = protect("/");
            CompletableFuture<Boolean> leases = protect(LeaseNames.LEASES);
            return namespace.thenCombine(leases, (n, l) -> {
                if (n && l) {
                    securedIn.set(session);
                }
                return null;
            });
        });
    }

    /**
     * Gives {@code path} the ACL if it lacks it; true when it is protected and stays so (not a container).
     */
    private CompletableFuture<Boolean> protect(String path) {
        return background(r -> client.getACL().inBackground(r).forPath(path)).thenCompose(read -> {
            KeeperException.Code rc = ZooKeeperSession.code(read);
            if (rc == KeeperException.Code.NONODE) {
                return CompletableFuture.completedFuture(false); // gone meanwhile: made again, protected, next time
            }
            if (rc != KeeperException.Code.OK) {
                return CompletableFuture.failedFuture(refused(path, "read the ACL of", rc));
            }
            Stat stat = read.getStat();
            boolean lasting = stat.getEphemeralOwner() != CONTAINER;
            if (credentials.protects(read.getACLList())) {
                return CompletableFuture.completedFuture(lasting);
            }
            LOG.warn("witness: znode {} has the ACL {}, which lets others than ZooKeeper user {} change it: setting {}",
                    full(path), read.getACLList(), credentials.user(), acl);
            return background(r -> client.setACL().withVersion(stat.getAversion()).withACL(acl).inBackground(r)
                    .forPath(path)).thenCompose(set -> {
                        KeeperException.Code setRc = ZooKeeperSession.code(set);
                        if (setRc != KeeperException.Code.OK) {
                            return CompletableFuture.failedFuture(refused(path, "set the ACL of", setRc));
                        }
                        LOG.info("witness: znode {} is now writable by ZooKeeper user {} only", full(path),
                                credentials.user());
                        return CompletableFuture.completedFuture(lasting);
                    });
        });
    }

    /** Why a call on {@code path} that ZooKeeper answered {@code rc} leaves the leases unprotected, and what to do. */
    private WitnessException refused(String path, String what, KeeperException.Code rc) {
        String znode = full(path);
        if (rc == KeeperException.Code.NOAUTH) {
            return new WitnessException("ZooKeeper user " + credentials.user() + " may not " + what + " " + znode
                    + " (NoAuth): it was made by another identity. Make it this witness's, as ZooKeeper's super user: "
                    + "setAcl -R /" + client.getNamespace() + " digest:" + credentials.digestId()
                    + ":cdrwa,world:anyone:r (zkCli.sh), or delete it while no node holds a lease; or use another "
                    + "namespace");
        }
        return new WitnessException("cannot " + what + " " + znode + ": " + KeeperException.create(rc).getMessage());
    }

    private String full(String path) {
        return "/" + client.getNamespace() + (path.equals("/") ? "" : path);
    }

    /** A Curator background operation started by {@code op} with a callback, as a future of its event. */
    private static CompletableFuture<CuratorEvent> background(Operation op) {
        CompletableFuture<CuratorEvent> answer = new CompletableFuture<>();
        try {
            op.start((c, event) -> answer.complete(event));
        } catch (Exception e) {
            answer.completeExceptionally(e);
        }
        return answer;
    }

    @FunctionalInterface
    private interface Operation {
        void start(org.apache.curator.framework.api.BackgroundCallback callback) throws Exception;
    }
}
