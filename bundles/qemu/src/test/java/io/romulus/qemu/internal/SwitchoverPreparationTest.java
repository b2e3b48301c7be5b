package io.romulus.qemu.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.support.qmp.FakeQmpServer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A switchover's "prepare" on a replica ({@link SwitchoverPreparation} under {@link QemuReplica}): the committed
 * device state is loaded into the standby once per epoch, a new epoch or "unprepare" kills the loaded standby (it
 * cannot take another state) so that the next standby is clean, and the activation learns whether its epoch is
 * loaded. Against a {@link FakeQemu}: no guest boots; what reaches QEMU is the QMP server's record.
 */
class SwitchoverPreparationTest {

    private static final ReplicaSpec SPEC = new ReplicaSpec(DomainId.parse("qemu:db"), 32L << 20, 4096,
            FakeQemu.OPTIONS);

    @TempDir
    Path run;
    private FakeQemu qemu;
    private QemuReplicas owner;
    private QemuReplica replica;
    private FakeQmpServer qmp;

    @BeforeEach
    void replicaWithAStandby() throws Exception {
        qemu = new FakeQemu(run);
        owner = new QemuReplicas(qemu.launcher(), new QemuGuests(qemu.launcher()));
        Replica r = owner.create(SPEC);
        replica = (QemuReplica) r;
        qmp = qemu.serve(replica.dir());
    }

    @AfterEach
    void stop() throws Exception {
        replica.close();
        owner.letGo();
        qemu.close();
    }

    private void startsDone() throws InterruptedException {
        FakeQemu.standbysStarted(owner);
    }

    /**
     * Asks the replica for a standby and waits for it: the one fake QEMU that runs (once the process the JDK spawned
     * has become the fake, which its QMP server does not wait for).
     */
    private ProcessHandle standbyUp() throws InterruptedException {
        replica.standby(List.of());
        startsDone();
        await().atMost(Duration.ofSeconds(10)).until(() -> FakeQemu.running().size() == 1);
        return FakeQemu.running().get(0);
    }

    private long loads() {
        return qmp.commands().stream().filter(c -> c.contains("migrate-incoming")).count();
    }

    @Test
    void withoutACommittedEpochOrAStandbyThereIsNothingToPrepare() throws Exception {
        assertFalse(replica.prepareActivation(List.of()), "no epoch committed");
        replica.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 3));
        assertFalse(replica.prepareActivation(List.of()), "no standby");
        assertEquals(0, loads());
    }

    @Test
    void theCommittedDeviceStateIsLoadedIntoTheStandbyOncePerEpoch() throws Exception {
        replica.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 3));
        ProcessHandle s = standbyUp();
        assertTrue(replica.prepareActivation(List.of()));
        assertTrue(replica.prepareActivation(List.of()), "prepared already");
        assertEquals(1, loads());
        Path state = replica.dir().resolve(ReplicaStateFile.DEVICE_STATE);
        assertTrue(qmp.commands().contains("{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"exec:cat "
                + state + "\"}}"), qmp.commands().toString());
        assertArrayEquals(new byte[] {'d', 'e', 'v', 1}, Files.readAllBytes(state));
        assertTrue(s.isAlive(), "the loaded standby waits for the activation");
    }

    @Test
    void aNewEpochKillsTheLoadedStandbyAndTheNextOneTakesTheNewState() throws Exception {
        replica.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 3));
        ProcessHandle loaded = standbyUp();
        assertTrue(replica.prepareActivation(List.of()));

        replica.applyCommitted(QemuReplicaHandOverTest.epoch(2, (byte) 2, 3));
        assertFalse(loaded.isAlive(), "a standby loaded with epoch 1 cannot take epoch 2");
        assertFalse(replica.prepareActivation(List.of()), "no standby until the engine asks for one");

        ProcessHandle clean = standbyUp();
        assertTrue(replica.prepareActivation(List.of()));
        assertEquals(2, loads());
        assertArrayEquals(new byte[] {'d', 'e', 'v', 2},
                Files.readAllBytes(replica.dir().resolve(ReplicaStateFile.DEVICE_STATE)));
        assertTrue(clean.isAlive());
    }

    @Test
    void unprepareKillsOnlyALoadedStandby() throws Exception {
        replica.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 3));
        ProcessHandle clean = standbyUp();
        replica.unprepare();
        assertTrue(clean.isAlive(), "nothing was prepared: the clean standby stays");

        assertTrue(replica.prepareActivation(List.of()));
        replica.unprepare();
        assertFalse(clean.isAlive(), "the switchover did not happen: the loaded standby is killed");
        assertTrue(standbyUp().isAlive(), "and a clean one replaces it");
    }

    @Test
    void aLoadThatFailsThrowsAndTheNextStandbyIsClean() throws Exception {
        replica.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 3));
        ProcessHandle first = standbyUp();
        qemu.refuse("migrate-incoming");
        HypervisorException e = assertThrows(HypervisorException.class,
                () -> replica.prepareActivation(List.of()));
        assertTrue(e.getMessage().startsWith("preparing the standby of qemu:db failed"), e.getMessage());
        assertFalse(first.isAlive(), "the standby that failed is killed");

        qemu.refuse("");
        ProcessHandle second = standbyUp();
        assertTrue(replica.prepareActivation(List.of()), "the next standby is prepared");
        assertTrue(second.isAlive());
    }

    @Test
    void theActivationLearnsWhetherItsEpochIsLoadedOnce() throws Exception {
        ReplicaStandby slot = new ReplicaStandby(owner, SPEC.id(), qemu.vm(SPEC.id()), replica.dir());
        SwitchoverPreparation p = new SwitchoverPreparation(owner, SPEC.id(), qemu.vm(SPEC.id()), slot);
        assertFalse(p.take(3, false).preloaded(), "nothing prepared");

        slot.keep(List.of());
        startsDone();
        Path state = replica.dir().resolve("state");
        Files.write(state, new byte[] {1});
        java.util.concurrent.atomic.AtomicInteger moved = new java.util.concurrent.atomic.AtomicInteger();
        p.load(slot.current(), state, 3, null, moved::incrementAndGet); // no dirty log with compare: no RAM needed
        assertTrue(p.isAt(3));
        assertEquals(1, moved.get(), "the load says once that the guest's addresses moved here");
        assertFalse(p.take(4, false).preloaded(), "epoch 3 is loaded, not 4");
        assertFalse(p.isAt(3), "taken: the preparation is over");

        p.load(slot.current(), state, 3, null, () -> { });
        SwitchoverPreparation.Taken taken = p.take(3, false);
        assertTrue(taken.preloaded());
        assertNull(taken.log(), "no dirty log with dirty.tracker=compare");
        assertFalse(p.take(3, false).preloaded(), "taken once");
        slot.close();
    }
}
