package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.sim.internal.SimDomain;
import io.romulus.sim.internal.SimHypervisor;
import io.romulus.sim.internal.SimWire;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A primary engine and a backup engine, each with its own sim binding, joined by the in-process transport. Every
 * committed epoch is checked against the primary's memory at the pause that produced it (I2), and every released
 * packet against the ACKs (I1).
 */
class EngineReplicationTest {

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

    @BeforeEach
    void nodes() {
        nodes(3000, StagingBuffer.DEFAULT_SEGMENT_BYTES);
    }

    /** Both engines, whose checkpoints are staged in segments of {@code segmentBytes} on either side. */
    private void nodes(long linkTimeoutMs, long segmentBytes) {
        primary = node("node-a", linkTimeoutMs, segmentBytes);
        primary.addHypervisor(oracle.primary(primarySim));
        primary.addOutputBufferProvider(primarySim, 0);
        backup = node("node-b", linkTimeoutMs, segmentBytes);
        backup.addHypervisor(oracle.backup(backupSim));
        primary.setTransport(link);
        backup.setTransport(link); // the backup's engine receives what arrives on the link
    }

    private static Engine node(String name, long linkTimeoutMs) {
        return node(name, linkTimeoutMs, StagingBuffer.DEFAULT_SEGMENT_BYTES);
    }

    private static Engine node(String name, long linkTimeoutMs, long segmentBytes) {
        return new Engine(new EngineSettings(name, 25, 1, 10_000, 512, linkTimeoutMs, 20, 4, 64,
                EngineSettings.FailoverMode.MANUAL, 7490, false), segmentBytes);
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

    @Test
    void everyCommittedEpochEqualsThePrimaryAtItsPauseAndNoOutputLeavesEarly() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime(); // output before this was never held
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 200);
        ProtectionStatus p = row(primary, Role.PRIMARY);
        assertEquals(ProtectionState.PROTECTED, p.state());
        assertEquals(5, p.intervalMs());
        long before = System.nanoTime();
        List<EpochStats> epochs = primary.epochs(DEMO, 100);
        primary.unprotect(DEMO);

        assertTrue(oracle.checked.get() >= 200, "checked " + oracle.checked.get());
        assertEquals(List.of(), oracle.mismatches, "I2: replica differs from the primary");
        List<SimWire.Packet> wire = primarySim.wire().packets();
        assertTrue(wire.stream().filter(x -> x.releasedNanos() <= before).count() > 100, "output flowed");
        Oracle.assertOutputCommit(wire, link.ackNanos, from, before);
        Oracle.assertInOrder(wire);

        assertEquals(100, epochs.size());
        assertTrue(epochs.stream().allMatch(e -> e.pauseNanos() > 0 && e.runNanos() > 0));
        assertTrue(epochs.stream().anyMatch(e -> e.dirtyPages() > 0), "the workload dirtied pages");
        assertTrue(epochs.stream().filter(e -> e.ackNanos() >= 0).count() >= 90, "ACK times recorded");
        assertTrue(epochs.stream().allMatch(e -> e.copyNanos() <= e.pauseNanos()));
        for (EpochStats e : epochs) {
            PauseBreakdown b = e.breakdown();
            long[] parts = {b.stopNanos(), b.harvestNanos(), b.copyNanos(), b.deviceStateNanos(),
                b.diskBarrierNanos(), b.contNanos(), b.handOffNanos()};
            assertTrue(Arrays.stream(parts).allMatch(n -> n >= 0), "no negative part: " + e);
            assertTrue(b.sumNanos() > 0, "the pause's parts are recorded: " + e);
            assertTrue(b.sumNanos() <= e.pauseNanos(), "the parts sum to at most the pause: " + e);
            assertEquals(e.copyNanos(), b.copyNanos());
        }
        // the engine's own CPU time: the epoch thread harvests and copies in every epoch, the sender encodes
        assertTrue(epochs.stream().allMatch(e -> e.cpuNanos() > 0), "CPU time recorded: " + epochs.get(0));
        assertTrue(epochs.stream().filter(e -> e.wireBytes() > 0).count() >= 90, "transfers recorded");
    }

    @Test
    void aBackupSlowToInstallTheInitialCopyIsNotTakenForALostLink() throws Exception {
        // 1.5 s to install the copy: longer than the 1 s without an ACK that counts an established stream as lost
        link.initialAckDelayMs = 1500;
        assertProtectedOverOneStream();
    }

    /** Protects DEMO and asserts it gets protected with the first stream: no reconnect, no second full copy. */
    private void assertProtectedOverOneStream() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 10, WORKLOAD));
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 20);
        assertEquals(1, link.connects.get(), "one stream: no reconnect and no second full copy");
        assertEquals(ProtectionState.PROTECTED, row(primary, Role.PRIMARY).state());
    }

    @Test
    void aBackupSlowToCommitTheFirstCheckpointAfterTheCopyIsNotTakenForALostLink() throws Exception {
        // the copy's ACK comes at once, but the first checkpoint (which commits the copy) takes 2.5 s on the backup:
        // longer than the 1 s without an ACK that counts an established stream as lost, and no detector here
        link.firstCheckpointAckDelayMs = 2500;
        assertProtectedOverOneStream();
    }

    @Test
    void aStreamStalledForMoreThanASecondIsNotLostWhileTheBackupsHeartbeatsArrive() throws Exception {
        FakeDetector detector = new FakeDetector("node-a");
        primary.setDetector(detector);
        primary.protect(new ProtectRequest(DEMO, PEER, 10, WORKLOAD));
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 20 && detector.watches("node-b"));
        detector.monitors.forEach(w -> w.silence = 5); // the backup's heartbeats arrive
        // the stream stalls 1.5 s per checkpoint, as TCP does retransmitting on a lossy link: no ACK for longer
        // than the second after which a silent stream counts as lost
        link.ackDelayMs = 1500;
        long stalled = committedOnBackup();
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= stalled + 3);
        link.ackDelayMs = 0;
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= stalled + 20);
        assertEquals(1, link.connects.get(), "the stream went on: no reconnect");
        assertEquals(ProtectionState.PROTECTED, row(primary, Role.PRIMARY).state());
        primary.unprotect(DEMO);
        assertEquals(List.of(), oracle.mismatches, "I2: replica differs from the primary");
    }

    @Test
    void theAdaptiveIntervalLengthensWhileTheBackupIsBehindAndComesBackOnceItKeepsUp() throws Exception {
        primary.update(primary.settings().withIntervalPolicy(new EngineSettings.IntervalPolicy(true, 5, 100)));
        primary.protect(new ProtectRequest(DEMO, PEER, 10, WORKLOAD));
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 20);
        // the backup takes 80 ms over each checkpoint: the ACK window fills, the loop waits, the interval grows (from
        // wherever the output the workload sends had brought it)
        link.ackDelayMs = 80;
        await().atMost(Duration.ofSeconds(60)).until(() -> row(primary, Role.PRIMARY).intervalReason()
                .contains("behind"));
        ProtectionStatus slow = row(primary, Role.PRIMARY);
        assertEquals(10, slow.intervalMs(), "the set interval stays");
        assertTrue(slow.detail().contains("interval " + slow.currentIntervalMs() + " ms, lengthened"), slow.detail());
        assertEquals(ProtectionState.PROTECTED, slow.state(), "a slow backup is no lost backup");
        link.ackDelayMs = 0;
        await().atMost(Duration.ofSeconds(60)).until(() -> !row(primary, Role.PRIMARY).intervalReason()
                .contains("behind"));
        long committed = committedOnBackup();
        await().atMost(Duration.ofSeconds(30)).until(() -> committedOnBackup() >= committed + 20);
        assertEquals(ProtectionState.PROTECTED, row(primary, Role.PRIMARY).state());
        primary.unprotect(DEMO);
        assertEquals(List.of(), oracle.mismatches, "I2: replica differs from the primary");
    }

    @Test
    void checkpointsLargerThanAStagingSegmentTravelInPartsAndEveryCommittedEpochStillEqualsThePrimary()
            throws Exception {
        // segments of 8 pages on both sides: the workload's checkpoints (about 100 dirty pages) are staged, copied,
        // sent and applied in parts, as a checkpoint of more than 2 GiB is with the default segment of 1 GiB
        primary.shutdown();
        backup.shutdown();
        nodes(3000, 8L * 4096);
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime();
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 100);
        long before = System.nanoTime();
        List<EpochStats> epochs = primary.epochs(DEMO, 50);
        primary.unprotect(DEMO);
        assertTrue(oracle.checked.get() >= 100, "checked " + oracle.checked.get());
        assertEquals(List.of(), oracle.mismatches, "I2: replica differs from the primary");
        Oracle.assertOutputCommit(primarySim.wire().packets(), link.ackNanos, from, before);
        assertTrue(epochs.stream().anyMatch(e -> e.dirtyPages() > 8), "checkpoints of more than one segment");
    }

    @Test
    void aCheckpointThatTakesLongerThanTheAckTimeoutToCrossASlowLinkIsNotTakenForALostLink() throws Exception {
        // no heartbeats here: after the first ACK the backup counts as lost after max(1 s, link timeout / 3) = 1 s
        // without one. A checkpoint of every page (1024 pages in 128 segments of 8) crosses the link one segment every
        // 20 ms: 2.6 s, all of it before its end can be acknowledged, as a checkpoint of gigabytes on a slow link
        primary.shutdown();
        backup.shutdown();
        nodes(300, 8L * 4096);
        primary.protect(new ProtectRequest(DEMO, PEER, 20, Map.of("memory", "4M", "dirty-rate", "200",
                "packet-rate", "200")));
        long from = System.nanoTime();
        await().atMost(Duration.ofSeconds(30)).until(() -> committedOnBackup() >= 5);
        link.pagesDelayMs = 20;
        SimDomain guest = primarySim.domain(DEMO.name());
        guest.writeRange(0, 1024, 0x5107_0000L);
        await().atMost(Duration.ofSeconds(60)).until(() -> primary.epochs(DEMO, 512).stream()
                .anyMatch(e -> e.dirtyPages() >= 1024 && e.ackNanos() >= 0 && committedOnBackup() >= e.epoch()));
        link.pagesDelayMs = 0;
        long before = System.nanoTime();
        EpochStats large = primary.epochs(DEMO, 512).stream().filter(e -> e.dirtyPages() >= 1024).findFirst()
                .orElseThrow();
        primary.unprotect(DEMO);

        assertEquals(1, link.connects.get(), "no reconnection: bytes still crossing the link are progress");
        assertTrue(large.ackNanos() > TimeUnit.SECONDS.toNanos(1), "the checkpoint took longer than the ACK "
                + "timeout: " + large.ackNanos() / 1_000_000 + " ms");
        assertTrue(oracle.committed.contains(large.epoch()));
        assertEquals(List.of(), oracle.mismatches, "I2: replica differs from the primary");
        Oracle.assertOutputCommit(primarySim.wire().packets(), link.ackNanos, from, before);
    }

    @Test
    void aLinkCutMidEpochNeverAppliesThatEpochAndTheNextStreamResumesTheReplicaWithoutACopy() throws Exception {
        AtomicBoolean cut = new AtomicBoolean();
        link.cutBefore = r -> r.epoch() == 60 && r.type().equals("state") && cut.compareAndSet(false, true);
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        long from = System.nanoTime(); // output before this was never held
        await().atMost(Duration.ofSeconds(60)).until(() -> cut.get() && committedOnBackup() > 80);
        long before = System.nanoTime();
        primary.unprotect(DEMO);

        assertFalse(oracle.committed.contains(60L), "epoch 60 was cut mid-way and must never be applied");
        assertTrue(oracle.committed.contains(59L));
        assertEquals(2, link.connects.get(), "one reconnection");
        assertEquals(1, oracle.replicas.get(), "the second stream resumed the replica: no new one, no initial copy");
        assertEquals(List.of(), oracle.mismatches, "I2 holds across the cut");
        Oracle.assertOutputCommit(primarySim.wire().packets(), link.ackNanos, from, before);
        Oracle.assertInOrder(primarySim.wire().packets());
    }

    @Test
    void aLostLinkLeavesNoDetailOnEitherNodeOnceItsCheckpointsAreAcknowledgedAgain() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        awaitProtected(30);
        assertNoDetail("the initial copy is over");

        link.refuse = true;
        link.cut();
        await().atMost(Duration.ofSeconds(10)).until(() -> row(primary, Role.PRIMARY).state()
                == ProtectionState.DEGRADED && row(primary, Role.PRIMARY).detail().contains("cannot reach the backup")
                && row(backup, Role.BACKUP).state() == ProtectionState.STANDBY
                && row(backup, Role.BACKUP).detail().contains("stream lost"));

        link.refuse = false;
        awaitProtected(committedOnBackup() + 30);
        assertNoDetail("the stream was resumed and its checkpoints are acknowledged");
        assertEquals(1, oracle.replicas.get(), "the stream resumed the replica");
        assertEquals(List.of(), oracle.mismatches);
    }

    @Test
    void aReplicaThatFailedVerificationIsReplacedAndNothingOfItRemainsOnceTheNewOneCommits() throws Exception {
        AtomicBoolean corruptNextRead = new AtomicBoolean();
        backupWrapping(replica -> new ForwardingReplica(replica) {
            @Override
            public void readPage(long pfn, ByteBuffer dst) throws HypervisorException {
                int at = dst.position();
                super.readPage(pfn, dst);
                if (corruptNextRead.compareAndSet(true, false)) {
                    dst.put(at, (byte) (dst.get(at) ^ 1)); // what the verification reads differs by a bit
                }
            }
        });
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD, true));
        awaitProtected(30);

        corruptNextRead.set(true);
        await().atMost(Duration.ofSeconds(10)).until(() -> oracle.replicas.get() == 2);
        awaitProtected(committedOnBackup() + 30);
        String detail = row(backup, Role.BACKUP).detail();
        assertFalse(detail.contains("verification failed"), "a new replica replaced the one that failed: " + detail);

        link.refuse = true;
        link.cut();
        await().atMost(Duration.ofSeconds(5)).until(() -> row(backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        assertEquals(ProtectionState.ACTIVATED, backup.failover(DEMO).state(),
                "the failed verification belonged to the replica that was replaced");
        assertEquals(List.of(), oracle.mismatches);
    }

    /**
     * I2 under faults: an apply that stops half-way (half the epoch's pages reach the replica, then the mapped RAM
     * faults, as a full tmpfs raises SIGBUS) leaves a replica the oracle sees differ from every state of the primary;
     * it is never activated: the backup shows FAILED with the reason, alarms, and refuses the failover, until a new
     * full copy replaces it.
     */
    @Test
    void anApplyThatDoesNotFinishLeavesAReplicaThatRefusesActivationUntilAFullCopyReplacesIt() throws Exception {
        AtomicBoolean tearNextApply = new AtomicBoolean();
        AtomicLong tornEpoch = new AtomicLong(-1);
        backupWrapping(replica -> new ForwardingReplica(replica) {
            @Override
            public void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
                if (epoch.pageCount() >= 2 && tearNextApply.compareAndSet(true, false)) {
                    tornEpoch.set(epoch.epoch());
                    super.applyCommitted(new CommittedEpoch(epoch.epoch(), epoch.pfns(), epoch.pageCount() / 2,
                            epoch.pages(), epoch.deviceState()));
                    throw new InternalError("a fault occurred in an unsafe memory access operation");
                }
                super.applyCommitted(epoch);
            }
        });
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        awaitProtected(30);

        link.refuse = true; // the primary cannot come back with a new stream before the checks below
        tearNextApply.set(true);
        await().atMost(Duration.ofSeconds(10)).until(() -> row(backup, Role.BACKUP).state()
                == ProtectionState.FAILED);
        String detail = row(backup, Role.BACKUP).detail();
        assertTrue(detail.contains("applying checkpoint " + tornEpoch.get() + " did not finish"), detail);
        assertTrue(backup.alarms(100).stream().anyMatch(a -> a.kind() == Alarm.Kind.FAILED
                && a.message().contains("did not finish")), "FAILED is alarmed: " + backup.alarms(100));
        Exception refused = assertThrows(Exception.class, () -> backup.failover(DEMO));
        assertTrue(refused.getMessage().contains("not activated") && refused.getMessage().contains("InternalError"),
                refused.getMessage());
        assertEquals(1, oracle.mismatches.size(), "the torn state: " + oracle.mismatches);
        assertTrue(oracle.mismatches.get(0).startsWith("epoch " + tornEpoch.get() + ":"), oracle.mismatches.get(0));

        link.refuse = false;
        await().atMost(Duration.ofSeconds(10)).until(() -> oracle.replicas.get() == 2);
        awaitProtected(committedOnBackup() + 30);
        detail = row(backup, Role.BACKUP).detail();
        assertFalse(detail.contains("did not finish"), "a new full copy replaced the torn replica: " + detail);
        link.refuse = true;
        link.cut();
        await().atMost(Duration.ofSeconds(5)).until(() -> row(backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        assertEquals(ProtectionState.ACTIVATED, backup.failover(DEMO).state());
        assertEquals(1, oracle.mismatches.size(), "only the torn state differed: " + oracle.mismatches);
    }

    /** Replaces the backup by one whose replicas are {@code wrap}ped. */
    private void backupWrapping(UnaryOperator<Replica> wrap) {
        backup.shutdown();
        backup = node("node-b", 3000);
        backup.addHypervisor(new ForwardingHypervisor(oracle.backup(backupSim)) {
            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                return wrap.apply(super.createReplica(spec));
            }
        });
        backup.setTransport(link);
    }

    /** Both nodes say PROTECTED, and the backup committed checkpoint {@code epoch}. */
    private void awaitProtected(long epoch) {
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= epoch
                && row(primary, Role.PRIMARY).state() == ProtectionState.PROTECTED
                && row(backup, Role.BACKUP).state() == ProtectionState.PROTECTED);
    }

    private void assertNoDetail(String after) {
        assertEquals("", row(primary, Role.PRIMARY).detail(), "primary, " + after);
        assertEquals("", row(backup, Role.BACKUP).detail(), "backup, " + after);
    }

    @Test
    void withoutABackupThePrimaryHoldsOutputUntilTheLinkTimeoutThenRunsUnprotectedAndResyncsLater()
            throws Exception {
        primary.shutdown();
        primary = node("node-a", 300);
        primary.addHypervisor(oracle.primary(primarySim));
        primary.addOutputBufferProvider(primarySim, 0);
        primary.setTransport(link);
        backup.setTransport(link);
        link.refuse = true;

        primary.protect(new ProtectRequest(DEMO, PEER, 10, WORKLOAD));
        await().atMost(Duration.ofSeconds(10)).until(() -> row(primary, Role.PRIMARY).state()
                == ProtectionState.UNPROTECTED);
        assertTrue(row(primary, Role.PRIMARY).detail().contains("UNPROTECTED"));
        long unbuffered = primarySim.wire().packets().size();
        await().atMost(Duration.ofSeconds(5)).until(() -> primarySim.wire().packets().size() > unbuffered + 50);
        assertTrue(primarySim.wire().packets().stream().allMatch(x -> x.sealedEpoch() < 0),
                "unprotected output passes straight through");

        link.refuse = false;
        await().atMost(Duration.ofSeconds(30)).until(() -> row(primary, Role.PRIMARY).state()
                == ProtectionState.PROTECTED && committedOnBackup() > 20);
        assertEquals(List.of(), oracle.mismatches);
    }

    @Test
    void failoverActivatesTheLastCommittedCheckpointAndKeepsEveryReleasedWrite() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 50);
        link.refuse = true;
        link.cut();
        await().atMost(Duration.ofSeconds(5)).until(() -> row(backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        long cutAt = System.nanoTime();
        long committed = committedOnBackup();
        long releasedWrites = primarySim.wire().packets().stream()
                .filter(p -> p.releasedNanos() < cutAt && p.sealedEpoch() >= 0)
                .mapToLong(SimWire.Packet::writeCount).max().orElseThrow();

        ProtectionStatus activated = backup.failover(DEMO);
        assertEquals(ProtectionState.ACTIVATED, activated.state());
        SimDomain resumed = backupSim.domain("demo");
        assertTrue(resumed.writeCount() >= releasedWrites,
                "I3: the resumed domain has every write a released packet reported");
        assertEquals(committed, committedOnBackup());
        assertThrows(IllegalStateException.class, () -> backup.failover(DEMO));
    }

    /** Protects a domain that can be made to vanish; returns it once protected, with a checkpoint committed. */
    private VanishingDomain protectVanishing() throws Exception {
        AtomicReference<VanishingDomain> opened = new AtomicReference<>();
        primary.addHypervisor(VanishingDomain.binding(oracle.primary(primarySim), opened));
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(30)).until(() -> row(primary, Role.PRIMARY).state()
                == ProtectionState.PROTECTED && committedOnBackup() >= 5);
        return opened.get();
    }

    private boolean failedAlarm(Engine engine) {
        return engine.alarms(100).stream().anyMatch(a -> a.kind() == Alarm.Kind.FAILED
                && a.domain().equals(DEMO.toString()));
    }

    @Test
    void aDomainThatVanishesWhileProtectedFailsItsProtectionWithAnAlarmAndTheBackupKeepsItsReplica()
            throws Exception {
        VanishingDomain d = protectVanishing();

        d.gone = true;

        assertFailedWithAnAlarmAndTheBackupKeepsItsReplica("is no longer open here");
    }

    /** The primary's protection FAILED with an alarm, its detail says {@code why}, and the backup can fail over. */
    private void assertFailedWithAnAlarmAndTheBackupKeepsItsReplica(String why) {
        await().atMost(Duration.ofSeconds(10)).until(() -> row(primary, Role.PRIMARY).state()
                == ProtectionState.FAILED);
        assertTrue(failedAlarm(primary), "FAILED is alarmed: " + primary.alarms(100));
        String detail = row(primary, Role.PRIMARY).detail();
        assertTrue(detail.contains(why), detail);
        await().atMost(Duration.ofSeconds(10)).until(() -> row(backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        assertTrue(backup.canActivate(DEMO), "the backup keeps its replica for a failover");
    }

    @Test
    void anErrorInTheEpochLoopFailsTheProtectionWithAnAlarm() throws Exception {
        VanishingDomain d = protectVanishing();

        d.breakNextPause = new StackOverflowError("a binding's bug");

        assertFailedWithAnAlarmAndTheBackupKeepsItsReplica("java.lang.StackOverflowError: a binding's bug");
    }

    @Test
    void aDomainStoppedWhileUnprotectEndsItsProtectionEndsItAsAskedWithoutAnAlarm() throws Exception {
        VanishingDomain d = protectVanishing();
        CountDownLatch release = new CountDownLatch(1);
        d.holdNextPause = release;
        assertTrue(d.pausing.await(10, TimeUnit.SECONDS), "the loop reached a pause");

        // unprotect asks the loop to stop and waits for it to end (it waits in join, the loop in its pause)
        AtomicReference<Exception> unprotectFailed = new AtomicReference<>();
        Thread unprotect = new Thread(() -> {
            try {
                primary.unprotect(DEMO);
            } catch (Exception e) {
                unprotectFailed.set(e);
            }
        }, "unprotect");
        unprotect.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> unprotect.getState() == Thread.State.TIMED_WAITING);
        // the domain is stopped as part of that teardown, under the checkpoint that was being taken
        release.countDown();
        unprotect.join(TimeUnit.SECONDS.toMillis(30));

        assertFalse(unprotect.isAlive(), "unprotect returned");
        assertNull(unprotectFailed.get());
        assertTrue(d.gone);
        assertFalse(failedAlarm(primary), "no FAILED alarm: " + primary.alarms(100));
        assertNull(row(primary, Role.PRIMARY), "the protection ended");
        // GOODBYE: the backup drops its replica, as after any unprotect
        await().atMost(Duration.ofSeconds(10)).until(() -> row(backup, Role.BACKUP) == null);
    }

    @Test
    void badRequestsAreRefusedWithReasons() throws Exception {
        var e = assertThrows(IllegalArgumentException.class,
                () -> primary.protect(new ProtectRequest(DomainId.parse("xen:db"), PEER, 0, Map.of())));
        assertTrue(e.getMessage().contains("no hypervisor binding 'xen'") && e.getMessage().contains("sim"));
        e = assertThrows(IllegalArgumentException.class,
                () -> primary.protect(new ProtectRequest(DEMO, PEER, 0, Map.of("memroy", "4M"))));
        assertTrue(e.getMessage().contains("memroy"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> primary.protect(new ProtectRequest(DEMO, PEER, 0, Map.of("memory", "lots"))));
        assertTrue(e.getMessage().contains("lots"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> primary.protect(new ProtectRequest(DEMO, PEER, 50_000, WORKLOAD)));
        assertTrue(e.getMessage().contains("between 1 and 10000 ms"), e.getMessage());

        primary.protect(new ProtectRequest(DEMO, PEER, 0, WORKLOAD));
        assertEquals(25, row(primary, Role.PRIMARY).intervalMs(), "the configured default interval");
        var again = assertThrows(IllegalStateException.class,
                () -> primary.protect(new ProtectRequest(DEMO, PEER, 0, WORKLOAD)));
        assertTrue(again.getMessage().contains("already protected"));
        primary.setInterval(DEMO, 40);
        assertEquals(40, row(primary, Role.PRIMARY).intervalMs());
        assertThrows(IllegalArgumentException.class, () -> primary.unprotect(DomainId.parse("sim:other")));

        Engine lonely = node("node-c", 1000);
        lonely.addHypervisor(primarySim);
        var noTransport = assertThrows(IllegalStateException.class,
                () -> lonely.protect(new ProtectRequest(DomainId.parse("sim:x"), PEER, 0, WORKLOAD)));
        assertTrue(noTransport.getMessage().contains("transport"));
    }

    @Test
    void protectionRefusesToStartWhenNothingCanHoldTheOutput() {
        Engine noBuffer = node("node-d", 1000);
        noBuffer.addHypervisor(primarySim);
        noBuffer.setTransport(link);
        var e = assertThrows(Exception.class,
                () -> noBuffer.protect(new ProtectRequest(DomainId.parse("sim:nobuf"), PEER, 0, WORKLOAD)));
        assertTrue(e.getMessage().contains("no output buffer can hold interface net0"), e.getMessage());
        assertEquals(null, primarySim.domain("nobuf"), "the domain opened for it was closed again");
    }

    @Test
    void verifyModeChecksEveryCheckpointAgainstThePrimarysMemory() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD, true));
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 50);
        String detail = row(backup, Role.BACKUP).detail();
        assertTrue(detail.matches(".*verified \\d+ checkpoints.*"), detail);
        assertTrue(row(primary, Role.PRIMARY).detail().contains("verify on"));
        assertEquals(List.of(), oracle.mismatches);
    }
}
