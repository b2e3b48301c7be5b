package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.sim.internal.SimDomain;
import io.romulus.sim.internal.SimHypervisor;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Scale-out on three nodes joined by the in-process transport: A is the primary of sim:demo, B its backup, C a third
 * node. B forks its replica of sim:demo into sim:demo-p2, which runs on B as a primary of its own, protected towards C
 * (or, unnamed, towards A); retiring it ends that pair. The stream of sim:demo and the clone's stream are each checked
 * by their own oracle (I1 and I2), and the clone's memory when it starts against the replica's committed epochs.
 */
class EngineForkTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final DomainId CLONE = DomainId.parse("sim:demo-p2");
    private static final int PORT_A = 7481;
    private static final int PORT_B = 7482;
    private static final int PORT_C = 7483;
    private static final InetSocketAddress ADDRESS_B = InetSocketAddress.createUnresolved("127.0.0.1", PORT_B);
    private static final InetSocketAddress ADDRESS_C = InetSocketAddress.createUnresolved("127.0.0.1", PORT_C);
    private static final Map<String, String> WORKLOAD = Map.of("memory", "4M", "dirty-rate", "20000",
            "packet-rate", "2000", "locality", "0.7");
    /** The clone writes nothing, so its memory stays what it started with; its NIC still sends. */
    private static final Map<String, String> QUIET = Map.of("dirty-rate", "0");

    private final SimHypervisor simA = new SimHypervisor();
    private final SimHypervisor simB = new SimHypervisor();
    private final SimHypervisor simC = new SimHypervisor();
    private final Map<Integer, LoopbackTransport> network = new ConcurrentHashMap<>();
    private final LoopbackTransport linkA = new LoopbackTransport(PORT_A, network);
    private final LoopbackTransport linkB = new LoopbackTransport(PORT_B, network);
    private final LoopbackTransport linkC = new LoopbackTransport(PORT_C, network);
    /** The stream of sim:demo, A to B. */
    private final Oracle demoOracle = new Oracle();
    /** The stream of the clone, B to C or B to A. */
    private final Oracle cloneOracle = new Oracle();
    private Engine a;
    private Engine b;
    private Engine c;

    @BeforeEach
    void nodes() {
        demoOracle.forks = cloneOracle;
        a = node("node-a", cloneOracle.backup(demoOracle.primary(simA)), simA, linkA);
        b = node("node-b", demoOracle.backup(simB), simB, linkB);
        c = node("node-c", cloneOracle.backup(simC), simC, linkC);
    }

    /** One node of the tests' network: manual failover, a 3 s link timeout. */
    static Engine node(String name, Hypervisor binding, SimHypervisor sim,
            LoopbackTransport link) {
        Engine e = new Engine(new EngineSettings(name, 25, 1, 10_000, 512, 3000, 20, 4, 64,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        e.addHypervisor(binding);
        e.addOutputBufferProvider(sim, 0);
        e.setTransport(link);
        return e;
    }

    @AfterEach
    void stop() {
        a.shutdown();
        b.shutdown();
        c.shutdown();
        simA.deactivate();
        simB.deactivate();
        simC.deactivate();
    }

    static ProtectionStatus row(Engine engine, DomainId domain, Role role) {
        return engine.status().stream().filter(s -> s.role() == role && s.domain().equals(domain.toString()))
                .findFirst().orElse(null);
    }

    private static long epoch(Engine engine, DomainId domain, Role role) {
        ProtectionStatus s = row(engine, domain, role);
        return s == null ? -1 : s.epoch();
    }

    /** Both ends PROTECTED, and the backup committed at least {@code backupEpoch}. */
    static boolean protectedPair(Engine primary, Engine backup, DomainId domain, long backupEpoch) {
        ProtectionStatus p = row(primary, domain, Role.PRIMARY);
        ProtectionStatus r = row(backup, domain, Role.BACKUP);
        return p != null && p.state() == ProtectionState.PROTECTED && r != null
                && r.state() == ProtectionState.PROTECTED && r.epoch() >= backupEpoch;
    }

    /** A protects sim:demo towards B until B committed {@code epochs} checkpoints; returns when output was held. */
    private long protectDemo(long epochs) throws Exception {
        a.protect(new ProtectRequest(DEMO, ADDRESS_B, 5, WORKLOAD));
        long from = System.nanoTime(); // output before this was never held
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(a, b, DEMO, epochs));
        return from;
    }

    /** sim:demo is still protected A to B, and B's replica commits at least {@code more} checkpoints more. */
    private void assertDemoGoesOn(long more) {
        long now = epoch(b, DEMO, Role.BACKUP);
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(a, b, DEMO, now + more));
        assertNull(row(b, DEMO, Role.PRIMARY), "B stays sim:demo's backup");
        assertNull(row(a, DEMO, Role.BACKUP));
    }

    @Test
    void aCloneStartsFromTheCommittedReplicaAndIsProtectedTowardsTheNamedNode() throws Exception {
        long demoFrom = protectDemo(30);

        long before = epoch(b, DEMO, Role.BACKUP);
        ProtectionStatus started = b.fork(DEMO, CLONE, QUIET, ADDRESS_C);
        long after = epoch(b, DEMO, Role.BACKUP);
        long cloneFrom = System.nanoTime(); // the clone's output is held from here on
        assertEquals(CLONE.toString(), started.domain());
        assertEquals(Role.PRIMARY, started.role());

        // I2 at the fork: the clone's memory is the replica's at one committed epoch, taken between two applies
        SimDomain clone = simB.domain(CLONE.name());
        assertNotNull(clone, "the clone runs in B's binding");
        assertEquals(0, clone.options().dirtyRate(), "the override reached the clone");
        int startedWith = clone.digest(); // it writes nothing: this is its memory as it started
        List<Long> matching = demoOracle.replicaDigests.entrySet().stream()
                .filter(e -> e.getValue() == startedWith).map(Map.Entry::getKey).sorted().toList();
        assertTrue(matching.stream().anyMatch(e -> e >= before && e <= after), "the clone started with the memory "
                + "of no epoch B committed while it forked (" + before + ".." + after + "); it matches " + matching);

        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(b, c, CLONE, 20));
        ProtectionStatus primary = row(b, CLONE, Role.PRIMARY);
        assertEquals("127.0.0.1:" + PORT_C, primary.peer(), "protected towards the node named");
        assertEquals("node-b", row(c, CLONE, Role.BACKUP).peer(), "C's replica comes from B");
        assertNull(row(a, CLONE, Role.BACKUP), "A is not the clone's backup");
        assertEquals(ProtectionState.PROTECTED, row(b, DEMO, Role.BACKUP).state(), "B still holds sim:demo's replica");
        assertDemoGoesOn(20);
        assertTrue(epoch(b, DEMO, Role.BACKUP) > after + 20, "sim:demo's epochs went on after the fork");

        long beforeStop = System.nanoTime();
        assertTrue(simB.wire().packets().stream().filter(p -> p.releasedNanos() > cloneFrom
                && p.releasedNanos() <= beforeStop).count() > 20, "the clone's output flowed");
        assertBothPairsHeld(20, "C", cloneFrom, demoFrom, beforeStop);
    }

    /** I2 on both streams (at least {@code checks} of the clone's), I1 and packet order on both nodes' output. */
    private void assertBothPairsHeld(int checks, String cloneBackup, long cloneFrom, long demoFrom, long beforeStop) {
        assertTrue(cloneOracle.checked.get() >= checks, "checked " + cloneOracle.checked.get());
        assertEquals(List.of(), cloneOracle.mismatches, "I2: the clone's replica on " + cloneBackup
                + " differs from the clone");
        Oracle.assertOutputCommit(simB.wire().packets(), linkB.ackNanos, cloneFrom, beforeStop);
        Oracle.assertInOrder(simB.wire().packets());
        assertEquals(List.of(), demoOracle.mismatches, "I2: B's replica of sim:demo differs from A");
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, demoFrom, beforeStop);
        Oracle.assertInOrder(simA.wire().packets());
    }

    @Test
    void withoutANamedBackupTheCloneIsProtectedTowardsTheNodeOfTheReplicasPrimary() throws Exception {
        long demoFrom = protectDemo(30);

        b.fork(DEMO, CLONE, Map.of(), null);
        long cloneFrom = System.nanoTime();
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(b, a, CLONE, 50));
        assertEquals("127.0.0.1:" + PORT_A, row(b, CLONE, Role.PRIMARY).peer(), "the replica's return address");
        assertEquals("node-b", row(a, CLONE, Role.BACKUP).peer());
        assertNull(row(c, CLONE, Role.BACKUP), "C is not involved");
        assertTrue(simB.domain(CLONE.name()).writeCount() > 0, "the clone runs the workload it was forked with");
        assertDemoGoesOn(20);

        long beforeStop = System.nanoTime();
        // the clone writes: every checkpoint of its stream is a different memory, and each equals the clone's
        assertBothPairsHeld(50, "A", cloneFrom, demoFrom, beforeStop);
    }

    @Test
    void forksThatCannotBeMadeAreRefusedWithTheReason() throws Exception {
        var none = assertThrows(IllegalArgumentException.class, () -> b.fork(DEMO, CLONE, Map.of(), ADDRESS_C));
        assertTrue(none.getMessage().contains("holds no replica"), none.getMessage());

        // the stream reaches B, but never a first checkpoint: B holds a replica with nothing committed
        linkA.cutBefore = r -> r.type().equals("end");
        a.protect(new ProtectRequest(DEMO, ADDRESS_B, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(10)).until(() -> row(b, DEMO, Role.BACKUP) != null);
        var early = assertThrows(IllegalStateException.class, () -> b.fork(DEMO, CLONE, Map.of(), ADDRESS_C));
        assertTrue(early.getMessage().contains("no committed checkpoint"), early.getMessage());
        assertNull(simB.domain(CLONE.name()), "nothing was started");
        assertNull(row(b, CLONE, Role.PRIMARY));

        linkA.cutBefore = r -> false;
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(a, b, DEMO, 10));

        var onPrimary = assertThrows(IllegalArgumentException.class, () -> a.fork(DEMO, CLONE, Map.of(), ADDRESS_C));
        assertTrue(onPrimary.getMessage().contains("holds no replica"), onPrimary.getMessage());
        var sameName = assertThrows(IllegalArgumentException.class, () -> b.fork(DEMO, DEMO, Map.of(), ADDRESS_C));
        assertTrue(sameName.getMessage().contains("name of its own"), sameName.getMessage());
        var otherBinding = assertThrows(IllegalArgumentException.class,
                () -> b.fork(DEMO, DomainId.parse("qemu:demo-p2"), Map.of(), ADDRESS_C));
        assertTrue(otherBinding.getMessage().contains("same binding"), otherBinding.getMessage());
        var itself = assertThrows(IllegalArgumentException.class, () -> b.fork(DEMO, CLONE, Map.of(), ADDRESS_B));
        assertTrue(itself.getMessage().contains("another node"), itself.getMessage());
        assertTrue(itself.getMessage().contains("127.0.0.1:" + PORT_B), itself.getMessage());

        // a domain of B's binding that no engine protects already has the name: the binding refuses (with a
        // HypervisorException, although ReplicationEngine.fork documents IllegalStateException for a clone that runs)
        SimDomain busy = (SimDomain) simB.open(DomainId.parse("sim:busy"), Map.of("memory", "1M"));
        var runs = assertThrows(Exception.class,
                () -> b.fork(DEMO, DomainId.parse("sim:busy"), Map.of(), ADDRESS_C));
        assertTrue(runs.getMessage().contains("already runs"), runs.getMessage());
        assertFalse(busy.isStopped(), "the domain that had the name runs on");
        assertNull(row(b, DomainId.parse("sim:busy"), Role.PRIMARY));

        // a clone B runs already has the name
        b.fork(DEMO, CLONE, QUIET, ADDRESS_C);
        SimDomain first = simB.domain(CLONE.name());
        var twice = assertThrows(IllegalStateException.class, () -> b.fork(DEMO, CLONE, QUIET, ADDRESS_C));
        assertTrue(twice.getMessage().contains("already protected, or runs, on this node"), twice.getMessage());
        assertEquals(first, simB.domain(CLONE.name()), "the clone that runs is left alone");
        assertFalse(first.isStopped());

        var badOption = assertThrows(HypervisorException.class,
                () -> b.fork(DEMO, DomainId.parse("sim:demo-p3"), Map.of("dirty-rat", "0"), ADDRESS_C));
        assertTrue(badOption.getMessage().contains("dirty-rat"), badOption.getMessage());
        assertNull(simB.domain("demo-p3"));
        assertDemoGoesOn(10);
    }

    @Test
    void retiringTheCloneEndsItsPairAndLeavesTheOriginalsAlone() throws Exception {
        protectDemo(30);
        b.fork(DEMO, CLONE, Map.of(), ADDRESS_C);
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(b, c, CLONE, 20));
        SimDomain clone = simB.domain(CLONE.name());

        var replicaHere = assertThrows(IllegalArgumentException.class, () -> c.retire(CLONE));
        assertTrue(replicaHere.getMessage().contains("does not run from this node"), replicaHere.getMessage());
        assertTrue(replicaHere.getMessage().contains("its primary retires it"), replicaHere.getMessage());
        var original = assertThrows(IllegalArgumentException.class, () -> b.retire(DEMO));
        assertTrue(original.getMessage().contains("does not run from this node"), original.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class, () -> b.retire(DomainId.parse("sim:nothing")));
        assertTrue(unknown.getMessage().contains("does not run from this node"), unknown.getMessage());
        assertEquals(ProtectionState.PROTECTED, row(c, CLONE, Role.BACKUP).state(), "refusals change nothing");

        b.retire(CLONE);
        assertNull(row(b, CLONE, Role.PRIMARY), "B no longer lists the clone");
        assertNull(simB.domain(CLONE.name()), "the clone's domain is gone from B's binding");
        assertTrue(clone.isStopped(), "the clone's domain is stopped");
        assertFalse(b.domainNames().contains(CLONE.toString()));
        await().atMost(Duration.ofSeconds(10)).until(() -> row(c, CLONE, Role.BACKUP) == null);
        assertEquals(List.of(), c.status(), "C dropped the clone's replica and holds nothing");
        assertDemoGoesOn(20);
        assertEquals(List.of(), demoOracle.mismatches);
        assertEquals(List.of(), cloneOracle.mismatches);

        var again = assertThrows(IllegalArgumentException.class, () -> b.retire(CLONE));
        assertTrue(again.getMessage().contains("does not run from this node"), again.getMessage());

        // scaling out again reuses the name: a new clone, a new replica on C
        b.fork(DEMO, CLONE, Map.of(), ADDRESS_C);
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(b, c, CLONE, 20));
        assertFalse(simB.domain(CLONE.name()).isStopped());
        assertEquals(List.of(), cloneOracle.mismatches);
    }

    /** Retired while its initial copy is on the way: the backup is told (GOODBYE) and keeps nothing. */
    @Test
    void aCloneRetiredDuringItsInitialCopyLeavesNothingBehind() throws Exception {
        protectDemo(30);
        // a slow link for the clone's stream: its 4 MiB initial copy takes about a second
        linkB.cutBefore = r -> {
            if (r.type().equals("pages")) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
            }
            return false;
        };
        b.fork(DEMO, CLONE, Map.of(), ADDRESS_C);
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5))
                .until(() -> row(c, CLONE, Role.BACKUP) != null
                        && row(b, CLONE, Role.PRIMARY).detail().startsWith("initial copy "));
        assertEquals(ProtectionState.SYNCING, row(c, CLONE, Role.BACKUP).state());

        b.retire(CLONE);
        assertNull(row(b, CLONE, Role.PRIMARY));
        assertNull(simB.domain(CLONE.name()), "the clone's domain is stopped");
        await("C drops what it received of the retired clone").atMost(Duration.ofSeconds(10))
                .until(() -> row(c, CLONE, Role.BACKUP) == null);
        assertEquals(List.of(), c.status(), "C holds nothing of the retired clone");
        assertDemoGoesOn(20);
    }

    @Test
    void theCloneOutlivesTheProtectionOfTheDomainItWasForkedFrom() throws Exception {
        protectDemo(30);
        b.fork(DEMO, CLONE, Map.of(), ADDRESS_C);
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(b, c, CLONE, 10));

        a.unprotect(DEMO); // GOODBYE: B drops the replica the clone was forked from
        await().atMost(Duration.ofSeconds(10)).until(() -> row(b, DEMO, Role.BACKUP) == null);
        long now = epoch(c, CLONE, Role.BACKUP);
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(b, c, CLONE, now + 20));
        var gone = assertThrows(IllegalArgumentException.class,
                () -> b.fork(DEMO, DomainId.parse("sim:demo-p3"), Map.of(), ADDRESS_C));
        assertTrue(gone.getMessage().contains("holds no replica"), gone.getMessage());
        assertEquals(List.of(), cloneOracle.mismatches);
    }
}
