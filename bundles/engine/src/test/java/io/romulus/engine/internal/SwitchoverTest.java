package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.sim.internal.SimHypervisor;
import io.romulus.sim.internal.SimWire;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Planned switchover (ARCHITECTURE.md section 6): the primary hands a protected domain to its backup at a final
 * checkpoint taken while it is paused; the backup runs it from exactly that checkpoint and the old primary, which kept
 * its memory image as a replica, becomes the backup and is resumed without a full copy. When anything fails before
 * the old primary stops its copy, the switchover aborts and the domain runs on there, still protected. The oracles
 * check I1 and I2 in both directions, and the synthetic NIC's sequence numbers check that clients see no gap and no
 * repeat across the move.
 */
class SwitchoverTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final int PORT_A = 7486;
    private static final int PORT_B = 7487;
    private static final InetSocketAddress ADDRESS_B = InetSocketAddress.createUnresolved("127.0.0.1", PORT_B);
    private static final Map<String, String> WORKLOAD = Map.of("memory", "4M", "dirty-rate", "20000",
            "packet-rate", "1000", "locality", "0.7");
    private static final Pattern AT = Pattern.compile("at checkpoint (\\d+)");

    private final SimHypervisor simA = new SimHypervisor();
    private final SimHypervisor simB = new SimHypervisor();
    private final Map<Integer, LoopbackTransport> network = new ConcurrentHashMap<>();
    private final LoopbackTransport linkA = new LoopbackTransport(PORT_A, network);
    private final LoopbackTransport linkB = new LoopbackTransport(PORT_B, network);
    /** The stream A to B. */
    private final Oracle forward = new Oracle();
    /** The stream B to A after the switchover. */
    private final Oracle backward = new Oracle();
    private Engine a;
    private Engine b;

    private void nodes() {
        forward.reverse = backward;
        a = EngineForkTest.node("node-a", backward.backup(forward.primary(simA)), simA, linkA);
        b = EngineForkTest.node("node-b", forward.backup(simB), simB, linkB);
    }

    @AfterEach
    void stop() {
        if (a != null) {
            a.shutdown();
            b.shutdown();
        }
        simA.deactivate();
        simB.deactivate();
    }

    private static ProtectionStatus row(Engine engine, Role role) {
        return EngineForkTest.row(engine, DEMO, role);
    }

    private static boolean protectedPair(Engine primary, Engine backup, long backupEpoch) {
        return EngineForkTest.protectedPair(primary, backup, DEMO, backupEpoch);
    }

    private static boolean raised(Engine engine, Alarm.Kind kind, String text) {
        return engine.alarms(100).stream().anyMatch(al -> al.kind() == kind && al.message().contains(text));
    }

    /** A protects sim:demo towards B until B committed {@code epochs}; returns when output was first held. */
    private long protectOnA(long epochs) throws Exception {
        a.protect(new ProtectRequest(DEMO, ADDRESS_B, 10, WORKLOAD));
        long from = System.nanoTime(); // output before this was never held
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(a, b, epochs));
        return from;
    }

    @Test
    void theDomainMovesToTheBackupAndTheOldPrimaryResumesAsItsBackupWithoutAFullCopy() throws Exception {
        nodes();
        long from = protectOnA(20);
        long asked = System.nanoTime();

        String done = a.switchover(DEMO);
        Matcher m = AT.matcher(done);
        assertTrue(m.find(), done);
        long n = Long.parseLong(m.group(1));
        assertTrue(done.contains("without a full copy"), done);

        // B runs the domain from checkpoint n and A, which stopped its copy, resumes as its backup: the epochs go on
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        assertNull(simA.domain("demo"), "the old primary's copy is stopped for good (I5)");
        assertNotNull(simB.domain("demo"), "the domain runs on the new primary");
        assertNull(row(a, Role.PRIMARY));
        assertNull(row(b, Role.BACKUP));
        assertTrue(row(b, Role.PRIMARY).epoch() > n, "the new primary's checkpoints continue the old numbering");
        assertEquals(0, backward.replicas.get(), "no full copy back: A's binding built no new replica");
        assertEquals(1, linkB.connects.get(), "one stream back, resumed at once");
        assertEquals(0, linkB.aborted.get(), "the stream back, opened beside the activation, is the one in use");
        assertEquals(List.of("prepare " + n), forward.preparations,
                "B's binding prepared the activation at \"prepare\", and it was not taken back");
        assertTrue(raised(b, Alarm.Kind.SWITCHOVER, "at checkpoint " + n));

        // I2 both ways
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
        assertTrue(backward.checked.get() >= 10, "A checked the new primary's checkpoints");
        // I1 both ways: on A up to the switchover, on B all along
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, from, asked);
        Oracle.assertOutputCommit(simB.wire().packets(), linkB.ackNanos, 0, System.nanoTime());
        // what A released from checkpoint n's ACK on (the hand-over) was produced before the final pause; output of
        // earlier checkpoints whose ACKs came between the request and the final pause left as usual (I1 above)
        long ackN = linkA.ackNanos.get(n);
        for (SimWire.Packet p : simA.wire().packets()) {
            if (p.releasedNanos() >= ackN) {
                assertTrue(p.sealedEpoch() <= n + 1, p.toString());
            }
        }
        // a client sees no gap and no repeat: B's first packet follows A's last
        List<SimWire.Packet> before = simA.wire().packets();
        List<SimWire.Packet> after = simB.wire().packets();
        Oracle.assertInOrder(before);
        Oracle.assertInOrder(after);
        assertTrue(!after.isEmpty(), "the new primary released output");
        assertEquals(before.get(before.size() - 1).seq() + 1, after.get(0).seq(),
                "the sequence continues across the switchover");
    }

    @Test
    void theWitnesssLeaseMovesWithTheDomain() throws Exception {
        FakeWitness witness = new FakeWitness();
        nodes();
        a.setWitness(witness.viewOf("node-a"));
        b.setWitness(witness.viewOf("node-b"));
        protectOnA(20);
        assertEquals("node-a", witness.holder(DEMO.toString()).orElse(null), "the primary holds the lease");

        a.switchover(DEMO);

        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, 30));
        assertEquals("node-b", witness.holder(DEMO.toString()).orElse(null), "the lease went with the domain");
        assertEquals(0, backward.replicas.get(), "no full copy back");
    }

    @Test
    void withoutTheFinalAckTheSwitchoverAbortsAndTheDomainStaysProtectedWhereItWas() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.dropAcks = true;

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("did not acknowledge the final checkpoint"), e.getMessage());
        assertTrue(raised(a, Alarm.Kind.SWITCHOVER, "aborted"));
        linkA.dropAcks = false;
        assertStillProtectedOnA(from);
    }

    @Test
    void aBackupThatCannotTakeTheDomainRefusesAndTheSwitchoverAborts() throws Exception {
        linkA.unlisted = true; // B would not know where to protect the domain back to
        nodes();
        long from = protectOnA(20);

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("cannot take the domain over")
                && e.getMessage().contains("did not say where its stream listens"), e.getMessage());
        assertTrue(raised(a, Alarm.Kind.SWITCHOVER, "aborted"));
        assertStillProtectedOnA(from);
    }

    @Test
    void aLinkThatDropsMidWayAbortsTheSwitchover() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.cutBefore = r -> r.type().equals("prepare");

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("link to the backup dropped"), e.getMessage());
        linkA.cutBefore = r -> false;
        assertStillProtectedOnA(from);
    }

    @Test
    void anAbortAfterTheBackupPreparedTakesThePreparationBackAndTheAddressesComeBack() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.dropHandOverAnswers = true; // B prepares, but its "ready" is lost

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("did not answer the hand-over"), e.getMessage());
        linkA.dropHandOverAnswers = false;
        assertTrue(raised(a, Alarm.Kind.SWITCHOVER, "aborted"));
        assertStillProtectedOnA(from);
        // B's binding prepared the activation, and took it back before the next checkpoint was applied
        assertEquals("unprepare", forward.preparations.get(1), forward.preparations.toString());
        assertTrue(forward.preparations.get(0).startsWith("prepare "), forward.preparations.toString());
        assertEquals(2, forward.preparations.size(), forward.preparations.toString());
        // the addresses B may have moved at "prepare" are announced from A again
        assertEquals(1, forward.announces.get());
    }

    @Test
    void aTakeOverThatFailsClosesTheStreamOpenedBesideIt() throws Exception {
        nodes();
        protectOnA(20);
        forward.failActivation = true;

        String done = a.switchover(DEMO);
        Matcher m = AT.matcher(done);
        assertTrue(m.find(), done);
        long n = Long.parseLong(m.group(1));

        // past "go" A stopped its copy; B could not run the domain, says so, and closes the stream it opened back
        await().atMost(Duration.ofSeconds(30)).until(() -> raised(b, Alarm.Kind.FAILED, "romulus:failover"));
        await().atMost(Duration.ofSeconds(10)).until(() -> linkB.aborted.get() == 1);
        assertEquals(1, linkB.connects.get(), "the stream back was opened beside the activation");
        assertNull(simA.domain("demo"), "A's copy stopped for good (I5)");
        assertNull(simB.domain("demo"), "B did not run the domain");
        assertNull(row(b, Role.PRIMARY));
        ProtectionStatus kept = row(a, Role.BACKUP);
        assertEquals(n, kept.epoch(), "A keeps its replica of checkpoint " + n + " for romulus:failover there");
        assertTrue(kept.state() != ProtectionState.PROTECTED, kept.toString());
        assertEquals(List.of(), backward.mismatches);
    }

    @Test
    void theOldPrimaryDoesNotConvictTheNewOneWhileItActivatesTheDomain() throws Exception {
        forward.reverse = backward;
        FakeDetector detectorA = new FakeDetector("node-a");
        a = automatic("node-a", backward.backup(forward.primary(simA)), simA, linkA);
        b = automatic("node-b", forward.backup(simB), simB, linkB);
        a.setDetector(detectorA);
        b.setDetector(new FakeDetector("node-b"));
        protectOnA(20);
        forward.activationDelayMs = 1500; // B takes its time to run the domain, and sends no heartbeat meanwhile

        String done = a.switchover(DEMO);
        Matcher m = AT.matcher(done);
        assertTrue(m.find(), done);
        long n = Long.parseLong(m.group(1));
        // A accepts B's stream, opened beside the activation, and watches B, which is silent: A's detector suspects it
        await().atMost(Duration.ofSeconds(10)).until(() -> detectorA.watches("node-b"));
        detectorA.suspect("node-b");

        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        assertNull(simA.domain("demo"), "A did not run the domain while B took it over (I5)");
        assertNotNull(simB.domain("demo"));
        assertEquals(0, backward.replicas.get(), "no full copy back");
    }

    /** A node that fails over by itself once its detector convicts the primary. */
    private static Engine automatic(String name, io.romulus.api.hypervisor.Hypervisor binding, SimHypervisor sim,
            LoopbackTransport link) {
        Engine e = new Engine(EngineSettings.defaults(name).withFailoverMode(EngineSettings.FailoverMode.AUTOMATIC)
                .withPeerHeartbeatPort(7490));
        e.addHypervisor(binding);
        e.addOutputBufferProvider(sim, 0);
        e.setTransport(link);
        return e;
    }

    @Test
    void onTheBackupItAsksThePrimaryOverTheStream() throws Exception {
        nodes();
        protectOnA(20);

        String done = b.switchover(DEMO);
        assertTrue(done.contains("handed over to this node by node-a"), done);
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, 30));
        assertNull(simA.domain("demo"));
        assertEquals(0, backward.replicas.get(), "no full copy back");
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
    }

    @Test
    void onABackupWithoutAStreamItSaysWhereToRunIt() throws Exception {
        nodes();
        protectOnA(5);
        linkA.refuse = true;
        linkA.cut();
        await().atMost(Duration.ofSeconds(10)).until(() -> row(b, Role.BACKUP).state() != ProtectionState.PROTECTED);
        Exception e = assertThrows(IllegalStateException.class, () -> b.switchover(DEMO));
        assertTrue(e.getMessage().contains("run romulus:switchover on the primary node-a"), e.getMessage());
        linkA.refuse = false;
    }

    /** The domain runs on A, protected by B again, and nothing left A unacknowledged (I1), B's replica intact (I2). */
    private void assertStillProtectedOnA(long from) {
        long now = row(b, Role.BACKUP).epoch();
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(a, b, now + 10));
        assertNotNull(simA.domain("demo"));
        // it pauses at every checkpoint: "runs again" is that it is seen running, not that it runs at one instant
        await("the domain runs again on the old primary").atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(1)).until(() -> !simA.domain("demo").isPaused());
        assertNull(simB.domain("demo"), "the backup did not run it");
        assertNull(row(b, Role.PRIMARY));
        assertEquals(List.of(), forward.mismatches);
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, from, System.nanoTime());
        Oracle.assertInOrder(simA.wire().packets());
    }
}
