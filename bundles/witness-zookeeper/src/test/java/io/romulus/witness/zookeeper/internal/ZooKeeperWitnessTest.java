package io.romulus.witness.zookeeper.internal;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import io.romulus.api.witness.Witness.Lease;
import io.romulus.api.witness.WitnessException;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Against a real ZooKeeper server (curator-test), with a 200 ms tick so that 2 s sessions are allowed. */
class ZooKeeperWitnessTest {

    private static final int SESSION_MS = 2000;
    private static final String DOMAIN = "web-1";

    private TestingServer server;
    private final List<ZooKeeperWitness> witnesses = new ArrayList<>();

    @BeforeEach
    void startZooKeeper() throws Exception {
        // data directory: a temporary one, deleted on close; ports: free ones; tick 200 ms (sessions 0.4-4 s)
        server = new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, 200, -1), true);
    }

    @AfterEach
    void stop() throws Exception {
        witnesses.forEach(ZooKeeperWitness::close);
        server.close();
    }

    private ZooKeeperWitness witness() {
        return witness(server.getConnectString());
    }

    private ZooKeeperWitness witness(String connectString) {
        ZooKeeperWitness w = new ZooKeeperWitness(
                ZooKeeperWitnessSettings.defaults(connectString).withTimeouts(SESSION_MS, 1000, 1000));
        witnesses.add(w);
        return w;
    }

    /** Ends {@code w}'s session on the server, as ZooKeeper does when a node has been silent too long. */
    private void expireOnServer(ZooKeeperWitness w) throws Exception {
        ZooKeeper session = w.curator().getZookeeperClient().getZooKeeper();
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper same = new ZooKeeper(server.getConnectString(), SESSION_MS, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        }, session.getSessionId(), session.getSessionPasswd());
        assertTrue(connected.await(5, SECONDS), "second connection of the session");
        same.close();
    }

    /** Asserts that {@code call} throws {@link WitnessException} and does so within 5 s. */
    private static void unknownWithinFiveSeconds(Executable call) {
        long start = System.nanoTime();
        assertThrows(WitnessException.class, call);
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms < 5000, "answered after " + ms + " ms");
    }

    /** {@code lease.confirm()} answers "no" or throws (unknown, which the caller takes as "no"). */
    private static void assertNotConfirmed(Lease lease) {
        try {
            assertFalse(lease.confirm());
        } catch (WitnessException e) {
            // unknown
        }
    }

    @Test
    void describesTheEnsembleNamespaceAndSession() {
        ZooKeeperWitness w = new ZooKeeperWitness(ZooKeeperWitnessSettings.defaults("127.0.0.1:2181"));
        witnesses.add(w);
        assertEquals("ZooKeeper 127.0.0.1:2181/romulus (session 4000 ms)", w.describe());
        ZooKeeperWitness authenticated = new ZooKeeperWitness(ZooKeeperWitnessSettings.defaults("127.0.0.1:2181")
                .withCredentials("romulus", "s3cret"));
        witnesses.add(authenticated);
        assertEquals("ZooKeeper 127.0.0.1:2181/romulus (session 4000 ms, user romulus)", authenticated.describe());
    }

    @Test
    void oneHolderAtATime() throws Exception {
        ZooKeeperWitness a = witness();
        ZooKeeperWitness b = witness();
        assertEquals(Optional.empty(), b.holder(DOMAIN));

        Lease lease = a.tryAcquire(DOMAIN, "node-a").orElseThrow();
        assertEquals(DOMAIN, lease.domain());
        assertEquals("node-a", lease.nodeId());
        assertTrue(lease.held());
        assertTrue(lease.confirm());

        assertEquals(Optional.empty(), b.tryAcquire(DOMAIN, "node-b"));
        assertEquals(Optional.of("node-a"), b.holder(DOMAIN));
        assertEquals(Optional.of("node-a"), a.holder(DOMAIN));
        assertTrue(lease.confirm(), "B's attempt took nothing from A");
        // asking again on the same node gives the same lease
        assertSame(lease, a.tryAcquire(DOMAIN, "node-a").orElseThrow());

        // other domains have leases of their own
        Lease other = b.tryAcquire("db/1", "node-b").orElseThrow();
        assertEquals(Optional.of("node-b"), a.holder("db/1"));
        other.close();
    }

    @Test
    void closingGivesTheLeaseUp() throws Exception {
        ZooKeeperWitness a = witness();
        ZooKeeperWitness b = witness();
        Lease lease = a.tryAcquire(DOMAIN, "node-a").orElseThrow();
        lease.close();
        assertFalse(lease.held());
        assertFalse(lease.confirm());
        assertEquals(Optional.empty(), b.holder(DOMAIN));

        Lease taken = b.tryAcquire(DOMAIN, "node-b").orElseThrow();
        assertTrue(taken.confirm());
        lease.close(); // idempotent: does not touch B's lease
        assertTrue(taken.confirm());
        assertEquals(Optional.of("node-b"), a.holder(DOMAIN));
        assertEquals(Optional.empty(), a.tryAcquire(DOMAIN, "node-a"));
    }

    @Test
    void closingTheWitnessEndsItsSessionAndLeases() throws Exception {
        ZooKeeperWitness a = witness();
        ZooKeeperWitness b = witness();
        Lease lease = a.tryAcquire(DOMAIN, "node-a").orElseThrow();
        a.close();
        assertFalse(lease.held());
        assertFalse(lease.confirm());
        assertThrows(WitnessException.class, () -> a.holder(DOMAIN));
        assertTrue(b.tryAcquire(DOMAIN, "node-b").isPresent());
    }

    @Test
    void sessionExpiryEndsTheLease() throws Exception {
        ZooKeeperWitness a = witness();
        ZooKeeperWitness b = witness();
        Lease lease = a.tryAcquire(DOMAIN, "node-a").orElseThrow();
        long firstSession = a.sessionId();

        expireOnServer(a);

        // the server deleted the ephemeral znode at once: B takes over without waiting
        Lease taken = b.tryAcquire(DOMAIN, "node-b").orElseThrow();
        assertTrue(taken.confirm());
        // A's client is reconnecting now: its answer is "no" or unknown, never "yes"
        assertNotConfirmed(lease);
        await().atMost(Duration.ofSeconds(10)).until(() -> !lease.held());
        assertFalse(lease.confirm(), "an ended lease never comes back");
        // A got a new session, and must not take the lease back from B
        await().atMost(Duration.ofSeconds(10)).until(a::connected);
        assertNotEquals(firstSession, a.sessionId());
        assertEquals(Optional.empty(), a.tryAcquire(DOMAIN, "node-a"));
        assertEquals(Optional.of("node-b"), a.holder(DOMAIN));
    }

    @Test
    void aLeaseOfTheNodesEarlierSessionIsNotTakenOver() throws Exception {
        ZooKeeperWitness a = witness();
        // node-a's earlier incarnation (before a restart, say) still has its session and its lease znode
        try (CuratorFramework earlier = CuratorFrameworkFactory.builder().connectString(server.getConnectString())
                .namespace("romulus").sessionTimeoutMs(SESSION_MS).retryPolicy(new RetryNTimes(3, 100)).build()) {
            earlier.start();
            earlier.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .forPath(LeaseNames.path(DOMAIN), "node-a".getBytes(StandardCharsets.UTF_8));

            assertEquals(Optional.empty(), a.tryAcquire(DOMAIN, "node-a"), "the znode belongs to the old session");
            assertEquals(Optional.of("node-a"), a.holder(DOMAIN));
        }
        // once the old session has ended, the lease is free again
        Lease again = a.tryAcquire(DOMAIN, "node-a").orElseThrow();
        assertTrue(again.confirm());
    }

    @Test
    void aLeaseTakenAfterItsCallerGaveUpIsGivenBack() throws Exception {
        // a 1 ms operation timeout: the create is answered after tryAcquire has given up
        ZooKeeperWitness hasty = new ZooKeeperWitness(
                ZooKeeperWitnessSettings.defaults(server.getConnectString()).withTimeouts(SESSION_MS, 1000, 1));
        witnesses.add(hasty);
        ZooKeeperWitness b = witness();
        await().atMost(Duration.ofSeconds(10)).until(hasty::connected);
        int gaveUp = 0;
        for (int i = 0; i < 20 && gaveUp < 3; i++) {
            String domain = "late-" + i;
            try {
                hasty.tryAcquire(domain, "node-a").ifPresent(Lease::close); // answered in time after all
            } catch (WitnessException e) {
                gaveUp++;
                // nobody holds a lease its taker does not know of: the late znode is deleted again
                await().atMost(Duration.ofSeconds(5)).until(() -> b.holder(domain).isEmpty());
                assertTrue(b.tryAcquire(domain, "node-b").isPresent());
            }
        }
        assertTrue(gaveUp > 0, "no call gave up within 1 ms");
    }

    @Test
    void anUnreachableZooKeeperIsAnUnknownAnswerNotAHang() throws Exception {
        ZooKeeperWitness a = witness();
        ZooKeeperWitness b = witness();
        Lease lease = a.tryAcquire(DOMAIN, "node-a").orElseThrow();
        assertEquals(Optional.of("node-a"), b.holder(DOMAIN));

        server.stop();
        unknownWithinFiveSeconds(lease::confirm);
        unknownWithinFiveSeconds(() -> b.tryAcquire(DOMAIN, "node-b"));
        unknownWithinFiveSeconds(() -> b.holder(DOMAIN));
        unknownWithinFiveSeconds(() -> a.tryAcquire("db-2", "node-a"));

        // the session times out while ZooKeeper is away: the lease is lost as far as A knows
        await().atMost(Duration.ofSeconds(10)).until(() -> !lease.held());
        assertFalse(lease.confirm());
        long start = System.nanoTime();
        lease.close(); // bounded even now
        assertTrue(System.nanoTime() - start < 5_000_000_000L);

        server.restart();
        // the restarted server expires A's old session after its timeout; then B can take the lease
        Lease taken = await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200))
                .ignoreException(WitnessException.class)
                .until(() -> b.tryAcquire(DOMAIN, "node-b"), Optional::isPresent).orElseThrow();
        assertTrue(taken.confirm());
        assertFalse(lease.confirm());
    }

    @Test
    void aWitnessThatNeverConnectedAnswersInTime() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // nothing listens here once closed
        }
        ZooKeeperWitness w = witness("127.0.0.1:" + port);
        unknownWithinFiveSeconds(() -> w.tryAcquire(DOMAIN, "node-a"));
        unknownWithinFiveSeconds(() -> w.holder(DOMAIN));
        assertFalse(w.connected());
    }

    /** Anyone may do anything: what a znode made without an ACL has. */
    private static final List<ACL> OPEN = new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL,
            new Id("world", "anyone"))));

    /** A witness of this cluster: it authenticates as ZooKeeper user romulus. */
    private ZooKeeperWitness authenticated() {
        ZooKeeperWitness w = new ZooKeeperWitness(ZooKeeperWitnessSettings.defaults(server.getConnectString())
                .withTimeouts(SESSION_MS, 1000, 1000).withCredentials("romulus", "s3cret"));
        witnesses.add(w);
        return w;
    }

    /** A plain client of the namespace, authenticated as {@code userPassword} unless that is null. */
    private CuratorFramework client(String userPassword) throws InterruptedException {
        CuratorFrameworkFactory.Builder b = CuratorFrameworkFactory.builder().connectString(server.getConnectString())
                .namespace("romulus").sessionTimeoutMs(SESSION_MS).retryPolicy(new RetryNTimes(0, 0));
        if (userPassword != null) {
            b.authorization("digest", userPassword.getBytes(StandardCharsets.UTF_8));
        }
        CuratorFramework c = b.build();
        c.start();
        assertTrue(c.blockUntilConnected(5, SECONDS));
        return c;
    }

    /** Asserts that ZooKeeper refuses {@code call} for want of the right identity. */
    private static void refused(String what, Executable call) {
        assertThrows(KeeperException.NoAuthException.class, call, what);
    }

    /** Asserts that nobody without romulus's credentials can change anything of the leases. */
    private void onlyRomulusCanChangeTheLeases(String holder) throws Exception {
        String lease = LeaseNames.path(DOMAIN);
        for (String identity : new String[] {null, "romulus:wrong", "mallory:s3cret"}) {
            try (CuratorFramework c = client(identity)) {
                String who = identity == null ? "anonymous" : identity;
                refused(who + " deletes the lease", () -> c.delete().forPath(lease));
                refused(who + " rewrites the lease", () -> c.setData().forPath(lease, "mallory".getBytes(UTF_8)));
                refused(who + " takes a lease", () -> c.create().withMode(CreateMode.EPHEMERAL)
                        .forPath(LeaseNames.path("db-2"), "mallory".getBytes(UTF_8)));
                refused(who + " opens the lease", () -> c.setACL().withACL(OPEN)
                        .forPath(lease));
                refused(who + " opens /leases", () -> c.setACL().withACL(OPEN)
                        .forPath(LeaseNames.LEASES));
                refused(who + " opens the namespace", () -> c.setACL().withACL(OPEN)
                        .forPath("/"));
                refused(who + " deletes /leases", () -> c.delete().deletingChildrenIfNeeded()
                        .forPath(LeaseNames.LEASES));
                // reading stays open: who holds a domain is no secret
                assertEquals(holder, new String(c.getData().forPath(lease), UTF_8), who + " reads the lease");
            }
        }
    }

    @Test
    void withCredentialsOnlyTheirHoldersCanDeleteOrTakeALease() throws Exception {
        ZooKeeperWitness a = authenticated();
        ZooKeeperWitness b = authenticated();
        Lease lease = a.tryAcquire(DOMAIN, "node-a").orElseThrow();

        onlyRomulusCanChangeTheLeases("node-a");
        assertTrue(lease.confirm(), "the lease survived every attempt");
        assertEquals(Optional.of("node-a"), b.holder(DOMAIN));

        // a witness without the credentials can read, not take
        ZooKeeperWitness anonymous = witness();
        assertEquals(Optional.of("node-a"), anonymous.holder(DOMAIN));
        WitnessException e = assertThrows(WitnessException.class, () -> anonymous.tryAcquire("db-2", "node-c"));
        assertTrue(e.getMessage().contains("NoAuth") && e.getMessage().contains("auth.user"), e.getMessage());

        // with them, the leases work as ever: one holder at a time, handed over when given up
        assertEquals(Optional.empty(), b.tryAcquire(DOMAIN, "node-b"));
        lease.close();
        Lease taken = b.tryAcquire(DOMAIN, "node-b").orElseThrow();
        assertTrue(taken.confirm());
        onlyRomulusCanChangeTheLeases("node-b");
        try (CuratorFramework c = client("romulus:s3cret")) {
            assertEquals(Set.of("digest:" + new DigestCredentials("romulus", "s3cret").digestId() + ":31",
                    "world:anyone:1"), acl(c, LeaseNames.path(DOMAIN)));
        }
    }

    @Test
    void aNamespaceMadeWithoutAclsIsProtectedOnTheFirstLease() throws Exception {
        // as an earlier version left it: containers open to anyone, and a lease of an unauthenticated node
        try (CuratorFramework old = client(null)) {
            old.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .forPath(LeaseNames.path("old-domain"), "node-old".getBytes(UTF_8));
            assertEquals(Set.of("world:anyone:31"), acl(old, "/"));

            Lease lease = authenticated().tryAcquire(DOMAIN, "node-a").orElseThrow();
            // (ZooKeeper shows the digest of an ACL only to those who may administer the znode)
            assertEquals(Set.of("digest:romulus:x:31", "world:anyone:1"), acl(old, "/"));
            try (CuratorFramework romulus = client("romulus:s3cret")) {
                String ours = "digest:" + new DigestCredentials("romulus", "s3cret").digestId() + ":31";
                assertEquals(Set.of(ours, "world:anyone:1"), acl(romulus, "/"));
                assertEquals(Set.of(ours, "world:anyone:1"), acl(romulus, LeaseNames.LEASES));
            }
            assertTrue(lease.confirm());
            onlyRomulusCanChangeTheLeases("node-a");
        }
    }

    @Test
    void aNamespaceOfAnotherIdentityIsRefusedWithWhatToDo() throws Exception {
        try (CuratorFramework other = client("mallory:x")) {
            other.create().creatingParentsIfNeeded()
                    .withACL(new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL, new Id("auth", "")))))
                    .forPath(LeaseNames.LEASES);
        }
        WitnessException e = assertThrows(WitnessException.class,
                () -> authenticated().tryAcquire(DOMAIN, "node-a"));
        assertTrue(e.getMessage().contains("NoAuth") && e.getMessage().contains("setAcl -R /romulus digest:romulus:"),
                e.getMessage());
    }

    private static Set<String> acl(CuratorFramework c, String path) throws Exception {
        Set<String> entries = new HashSet<>();
        for (ACL a : c.getACL().forPath(path)) {
            entries.add(a.getId().getScheme() + ":" + a.getId().getId() + ":" + a.getPerms());
        }
        return entries;
    }
}
