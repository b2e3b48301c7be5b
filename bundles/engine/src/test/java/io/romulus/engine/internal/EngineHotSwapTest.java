package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.sim.internal.SimHypervisor;
import io.romulus.sim.internal.SimWire;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Helpers of a running protection are replaced as a bundle update replaces them (ARCHITECTURE.md section 8): the
 * binding, the output buffer provider, the engine itself on either node. Throughout, every committed epoch equals the
 * primary's memory at its pause (I2), no packet leaves before the ACK of its epoch (I1), and the backup never builds
 * a second replica: protection goes on with incremental checkpoints, never a full copy.
 */
class EngineHotSwapTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final InetSocketAddress PEER = InetSocketAddress.createUnresolved("127.0.0.1", 7480);
    private static final Map<String, String> WORKLOAD = Map.of("memory", "4M", "dirty-rate", "20000",
            "packet-rate", "2000", "locality", "0.7");

    private final SimHypervisor primarySim = new SimHypervisor();
    private final SimHypervisor backupSim = new SimHypervisor();
    private final LoopbackTransport link = new LoopbackTransport();
    private final Oracle oracle = new Oracle();
    private Engine primary;
    private Engine backup;

    @TempDir
    Path dir;

    @BeforeEach
    void nodes() {
        primary = primaryNode();
        backup = backupNode();
    }

    private Engine primaryNode() {
        Engine e = node("node-a");
        e.addHypervisor(oracle.primary(primarySim));
        e.addOutputBufferProvider(primarySim, 0);
        primaryEnd(e);
        return e;
    }

    /** The primary's end of the link: the backup's engine stays the one that accepts streams. */
    private void primaryEnd(Engine e) {
        e.setTransport(link);
        if (backup != null) {
            link.setAcceptor(backup);
        }
    }

    private Engine backupNode() {
        Engine e = node("node-b");
        e.addHypervisor(oracle.backup(backupSim));
        e.setTransport(link);
        return e;
    }

    private static Engine node(String name) {
        return new Engine(new EngineSettings(name, 25, 1, 10_000, 512, 3000, 20, 4, 64,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
    }

    @AfterEach
    void stop() {
        primary.shutdown();
        backup.shutdown();
        primarySim.deactivate();
        backupSim.deactivate();
    }

    private ProtectionStatus row(Engine engine, Role role) {
        return engine.status().stream().filter(s -> s.role() == role && s.domain().equals(DEMO.toString()))
                .findFirst().orElse(null);
    }

    private long committedOnBackup() {
        ProtectionStatus s = row(backup, Role.BACKUP);
        return s == null ? -1 : s.epoch();
    }

    private void awaitCommitted(long epoch) {
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= epoch
                && row(primary, Role.PRIMARY) != null && row(primary, Role.PRIMARY).state() == ProtectionState.PROTECTED);
    }

    /** I1, I2, one replica only; {@code from}..{@code before} is when output was held. */
    private void assertInvariants(long from, long before) {
        assertEquals(List.of(), oracle.mismatches, "I2: a committed epoch differs from the primary at its pause");
        assertEquals(1, oracle.replicas.get(), "the backup built one replica: no stream started with a full copy");
        Oracle.assertOutputCommit(primarySim.wire().packets(), link.ackNanos, from, before);
        Oracle.assertInOrder(primarySim.wire().packets());
    }

    @Test
    void anUpdatedBindingAdoptsTheDomainAndCheckpointsGoOnWhereTheyStopped() throws Exception {
        // the binding as its bundle's versions see it: the old one leaves its domains running when it goes
        List<ProtectedDomain> opened = new CopyOnWriteArrayList<>();
        ForwardingHypervisor v1 = new ForwardingHypervisor(oracle.primary(primarySim)) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                ProtectedDomain d = super.open(id, options);
                opened.add(d);
                return d;
            }
        };
        primary.shutdown();
        primary = node("node-a");
        primary.addHypervisor(v1);
        primary.addOutputBufferProvider(primarySim, 0);
        primaryEnd(primary);
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime();
        awaitCommitted(50);

        primary.removeHypervisor(v1);
        opened.forEach(ProtectedDomain::detach); // what the old version's deactivate does
        long stalled = row(primary, Role.PRIMARY).epoch();
        // the domain runs on, writing pages and sending packets; no checkpoint all the while
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
            ProtectionStatus away = row(primary, Role.PRIMARY);
            assertTrue(away.epoch() <= stalled + 1, "no checkpoint without a binding: " + stalled + " -> "
                    + away.epoch());
            assertTrue(away.detail().contains("binding is away"), away.detail());
        });

        primary.addHypervisor(new ForwardingHypervisor(oracle.primary(primarySim)));
        awaitCommitted(stalled + 50);
        ProtectionStatus back = row(primary, Role.PRIMARY);
        assertEquals(ProtectionState.PROTECTED, back.state());
        assertEquals("", back.detail(), "the binding is back: its absence is no longer what the status says");
        long before = System.nanoTime();
        primary.unprotect(DEMO);
        assertInvariants(from, before);
        assertEquals(1, link.connects.get(), "the stream stayed up through the binding's update");
    }

    @Test
    void anUpdatedOutputProviderAdoptsTheHoldAndNothingLeavesEarly() throws Exception {
        Provider v1 = new Provider("sim-v1");
        primary.shutdown();
        primary = node("node-a");
        primary.addHypervisor(oracle.primary(primarySim));
        primary.addOutputBufferProvider(v1, 0);
        primaryEnd(primary);
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime();
        awaitCommitted(50);

        primary.removeOutputBufferProvider(v1);
        v1.attached.forEach(OutputBuffer::detach); // what the old version's deactivate does: the hold stays
        long goneNanos = System.nanoTime();
        long gone = committedOnBackup();
        awaitCommitted(gone + 20); // checkpoints go on meanwhile; nothing is released
        assertTrue(primary.outputs().isEmpty(), "no buffer while no provider holds the interface");
        long arrived = System.nanoTime();
        primary.addOutputBufferProvider(new Provider("sim-v2"), 0);
        awaitCommitted(committedOnBackup() + 50);
        long before = System.nanoTime();
        assertEquals(1, primary.outputs().size(), "the new provider holds the interface");
        primary.unprotect(DEMO);
        assertInvariants(from, before);

        // the hold was adopted, not dropped: every packet the guest sent left, in order, and what was held across
        // the update left with the first epoch the new attach sealed, one epoch and its ACK after the attach
        List<SimWire.Packet> wire = primarySim.wire().packets().stream()
                .filter(p -> p.releasedNanos() >= from && p.releasedNanos() <= before).toList();
        for (int i = 1; i < wire.size(); i++) {
            assertEquals(wire.get(i - 1).seq() + 1, wire.get(i).seq(), "no packet dropped across the update");
        }
        assertTrue(wire.stream().noneMatch(p -> p.releasedNanos() > goneNanos && p.releasedNanos() < arrived),
                "nothing left while no provider held the interface");
        long firstAfter = wire.stream().mapToLong(SimWire.Packet::releasedNanos).filter(t -> t >= arrived).min()
                .orElseThrow(() -> new AssertionError("nothing left after the new provider attached"));
        assertTrue(firstAfter - arrived < 1_000_000_000L, "the held output left "
                + (firstAfter - arrived) / 1_000_000 + " ms after the new provider attached");
    }

    /** One version of the sim's output buffer provider, as its bundle would register it. */
    private final class Provider implements OutputBufferProvider {

        final String name;
        final List<OutputBuffer> attached = new CopyOnWriteArrayList<>();

        Provider(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public boolean supports(GuestInterface nic) {
            return primarySim.supports(nic);
        }

        @Override
        public OutputBuffer attach(GuestInterface nic) throws OutputBufferException {
            OutputBuffer b = primarySim.attach(nic);
            attached.add(b);
            return b;
        }
    }

    @Test
    void anUpdatedEngineOnEitherNodeTakesOverAndResumesTheStreamWithoutACopy() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime();
        awaitCommitted(50);

        Path primaryState = dir.resolve("a/engine-handover.properties");
        primary.handOver(primaryState);
        assertTrue(Files.isRegularFile(primaryState));
        long handedAt = committedOnBackup();
        primary = primaryNode();
        primary.restore(primaryState);
        assertFalse(Files.exists(primaryState), "the state is read once");
        awaitCommitted(handedAt + 50);

        Path backupState = dir.resolve("b/engine-handover.properties");
        backup.handOver(backupState);
        // as the component does: the state is read first, the helpers bind afterwards, the transport among them
        backup = node("node-b");
        backup.restore(backupState);
        int turnedAway = link.turnedAway.get();
        backup.setTransport(link);
        // the primary knocks meanwhile and is told to try again
        await().atMost(Duration.ofSeconds(10)).until(() -> link.turnedAway.get() > turnedAway);
        backup.addHypervisor(oracle.backup(backupSim));
        resumedAndStopped(from, "both engines were updated and the resumed stream commits");
        assertTrue(link.connects.get() >= 3, "each engine update broke the stream once: " + link.connects.get());
    }

    @Test
    void anUpdatedBindingOnTheBackupAdoptsTheReplicaAndTheStatusSaysSoWhileItLasts() throws Exception {
        BackupBindingV1 v1 = backupWithBindingV1();
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime();
        awaitCommitted(50);

        v1.goAway();
        // the stream cut for the update ends meanwhile; the replica still waits for its binding, and the status says so
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).untilAsserted(() -> assertTrue(
                row(backup, Role.BACKUP).detail().contains("binding went away"), row(backup, Role.BACKUP).detail()));

        backup.addHypervisor(oracle.backup(backupSim));
        resumedAndStopped(from, "the new binding adopted the replica and the resumed stream commits");
    }

    @Test
    void aStreamThatComesWhileTheNewBindingIsNotYetAdoptingIsToldToTryAgain() throws Exception {
        BackupBindingV1 v1 = backupWithBindingV1();
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime();
        awaitCommitted(50);
        v1.goAway();
        await().atMost(Duration.ofSeconds(10)).until(() -> link.lastHello != null
                && link.lastHello.options().containsKey(PrimaryProtection.RESUME_OPTION));

        // the new version is registered before it adopts the replica: a stream that asks to resume in between (here
        // the primary's own HELLO, answered from within the adoption) must not get a second replica built
        List<Throwable> answers = new CopyOnWriteArrayList<>();
        backup.addHypervisor(new ForwardingHypervisor(oracle.backup(backupSim)) {
            @Override
            public Optional<Replica> adoptReplica(ReplicaSpec spec) throws HypervisorException {
                backup.acceptAsync(link.lastHello).whenComplete((accepted, e) -> answers.add(
                        e == null ? new AssertionError("accepted before the replica was adopted") : e));
                return super.adoptReplica(spec);
            }
        });
        assertEquals(1, answers.size());
        assertTrue(answers.get(0).getMessage().contains("to adopt it") && answers.get(0).getMessage()
                .contains("try again"), answers.get(0).toString());
        resumedAndStopped(from, "the replica was adopted and the resumed stream commits");
    }

    @Test
    void anUpdateOfTheBackupsBindingDuringTheInitialCopyStartsItAgainWithTheNewVersion() throws Exception {
        BackupBindingV1 v1 = backupWithBindingV1();
        link.pagesDelayMs = 20; // the initial copy takes a while
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(10)).until(() -> row(backup, Role.BACKUP) != null
                && row(backup, Role.BACKUP).detail().contains("receiving the initial copy"));

        v1.goAway();
        link.pagesDelayMs = 0;
        backup.addHypervisor(oracle.backup(backupSim));
        // nothing was committed, so there was nothing to adopt: the next stream copies the domain whole into a replica
        // of the new version, and nothing says the replica still waits for its binding
        awaitCommitted(50);
        assertNoDetail("the initial copy started again with the new binding");
        assertEquals(List.of(), oracle.mismatches, "I2: a committed epoch differs from the primary at its pause");
        primary.unprotect(DEMO);
    }

    /** The backup's binding as its bundle's versions see it: the old one leaves its replicas in memory. */
    private final class BackupBindingV1 extends ForwardingHypervisor {
        private final List<Replica> built = new CopyOnWriteArrayList<>();

        BackupBindingV1() {
            super(oracle.backup(backupSim));
        }

        @Override
        public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
            Replica r = super.createReplica(spec);
            built.add(r);
            return r;
        }

        /** Its bundle is stopped for the update: the engine loses it, and it lets go of its replicas. */
        void goAway() {
            backup.removeHypervisor(this);
            built.forEach(Replica::detach); // what the old version's deactivate does
        }
    }

    /** A fresh backup engine whose binding is the old version of an update to come. */
    private BackupBindingV1 backupWithBindingV1() {
        backup.shutdown();
        backup = node("node-b");
        BackupBindingV1 v1 = new BackupBindingV1();
        backup.addHypervisor(v1);
        backup.setTransport(link);
        return v1;
    }

    /**
     * After an update: 50 more checkpoints commit, then protection stops; I1, I2 and one replica held from
     * {@code from}, and {@code after} that, neither node's status says anything of what interrupted the stream.
     */
    private void resumedAndStopped(long from, String after) throws Exception {
        awaitCommitted(committedOnBackup() + 50);
        assertNoDetail(after);
        long before = System.nanoTime();
        primary.unprotect(DEMO);
        assertInvariants(from, before);
    }

    /** Once the stream commits again, neither node's status says anything of what interrupted it. */
    private void assertNoDetail(String after) {
        assertEquals(ProtectionState.PROTECTED, row(backup, Role.BACKUP).state(), after);
        assertEquals("", row(primary, Role.PRIMARY).detail(), "primary, " + after);
        assertEquals("", row(backup, Role.BACKUP).detail(), "backup, " + after);
    }
}
