package io.romulus.qemu.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.support.qmp.FakeQmpServer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The standby a replica handle keeps ({@link ReplicaStandby}): one at a time, started again when it died or has other
 * disks than failover would attach, handed to the activation or to the next handle, and none after the end. Against a
 * {@link FakeQemu}: no guest boots; each standby is a QMP connection to the replica's socket.
 */
class ReplicaStandbyTest {

    private static final DomainId ID = DomainId.parse("qemu:db");
    private static final List<GuestDisk> DISK = List.of(new GuestDisk("vda", "nbd", "nbd://127.0.0.1:10809/a", 1));
    private static final List<GuestDisk> OTHER_DISK = List.of(new GuestDisk("vda", "nbd", "nbd://127.0.0.1:10809/b",
            1));

    @TempDir
    Path run;
    private FakeQemu qemu;
    private QemuReplicas owner;
    private Path dir;
    private FakeQmpServer qmp;

    @BeforeEach
    void replicaDirectory() throws Exception {
        qemu = new FakeQemu(run);
        owner = new QemuReplicas(qemu.launcher(), new QemuGuests(qemu.launcher()));
        dir = run.resolve("db.replica-1");
        qmp = qemu.serve(dir);
    }

    @AfterEach
    void stop() throws Exception {
        owner.letGo(); // its standby thread
        qemu.close();
    }

    private ReplicaStandby standby(Map<String, String> options) {
        VmDefinition vm = qemu.launcher().definitionOf(ID, options);
        return new ReplicaStandby(owner, ID, vm, dir);
    }

    private void startsDone() throws InterruptedException {
        FakeQemu.standbysStarted(owner);
    }

    @Test
    void oneStandbyIsStartedWhateverTheCallsAndTheActivationTakesIt() throws Exception {
        ReplicaStandby s = standby(FakeQemu.OPTIONS);
        s.keep(List.of());
        s.keep(List.of());
        startsDone();
        s.keep(List.of());
        startsDone();
        Standby up = s.current();
        assertNotNull(up, "a standby is up");
        assertTrue(up.alive());
        assertEquals(List.of(1), qmp.connections(), "one QEMU started");

        assertSame(up, s.end(List.of()), "the activation takes the standby that is up");
        assertTrue(up.alive(), "and it is not killed");
        assertNull(s.current());
        s.keep(List.of());
        startsDone();
        assertEquals(List.of(1), qmp.connections(), "no standby after the end");
        up.close();
    }

    @Test
    void aStandbyThatDiedIsStartedAgain() throws Exception {
        ReplicaStandby s = standby(FakeQemu.OPTIONS);
        s.keep(List.of());
        startsDone();
        Standby first = s.current();
        first.process().kill().get(10, TimeUnit.SECONDS);

        s.keep(List.of());
        startsDone();
        Standby second = s.current();
        assertNotNull(second);
        assertTrue(second.alive());
        assertFalse(first.process().pid() == second.process().pid(), "another QEMU");
        assertEquals(List.of(1, 2), qmp.connections());
        s.close();
        assertFalse(second.alive(), "closing the handle kills its standby");
    }

    @Test
    void aStandbyWithOtherDisksIsReplacedAndNotTakenByAnActivationWithOthers() throws Exception {
        ReplicaStandby s = standby(Map.of("memory", "32M", "dirty-mib", "1", "disk", "64M"));
        s.keep(DISK);
        startsDone();
        Standby first = s.current();
        assertTrue(first.fits(DISK));

        s.keep(OTHER_DISK);
        startsDone();
        Standby second = s.current();
        assertFalse(first.alive(), "the standby with the other disk is killed");
        assertTrue(second.alive() && second.fits(OTHER_DISK));

        assertNull(s.end(DISK), "an activation with other disks gets no standby");
        assertFalse(second.alive(), "and the standby is killed");
    }

    @Test
    void theNextHandleTakesTheStandbyOver() throws Exception {
        ReplicaStandby s = standby(FakeQemu.OPTIONS);
        ReplicaStandby next = standby(FakeQemu.OPTIONS);
        s.keep(List.of());
        startsDone();
        Standby up = s.current();

        s.handTo(next);
        assertNull(s.current());
        assertSame(up, next.current());
        assertTrue(up.alive());
        next.keep(List.of());
        startsDone();
        assertEquals(List.of(1), qmp.connections(), "the next handle keeps the standby it took over");
        next.close();
        assertFalse(up.alive());
    }

    @Test
    void aStandbyThatComesUpAfterTheEndIsKilled() throws Exception {
        ReplicaStandby s = standby(FakeQemu.OPTIONS);
        CountDownLatch hold = new CountDownLatch(1);
        owner.startStandby(() -> {
            try {
                hold.await(); // the standby's start waits behind this
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        s.keep(List.of());
        Thread.currentThread().interrupt(); // ending does not wait for the start
        assertNull(s.end(List.of()));
        assertTrue(Thread.interrupted());
        hold.countDown();
        startsDone();
        assertEquals(List.of(1), qmp.connections(), "the standby did start");
        assertNull(s.current());
        await().atMost(Duration.ofSeconds(10)).until(() -> !qemu.anyRuns());
    }

    @Test
    void removeTakesTheStandbyOutForTheNextKeepToStartAClean() throws Exception {
        ReplicaStandby s = standby(FakeQemu.OPTIONS);
        s.keep(List.of());
        startsDone();
        Standby loaded = s.remove();
        assertNotNull(loaded);
        assertNull(s.current());
        loaded.close();
        s.keep(List.of());
        startsDone();
        assertNotNull(s.current());
        assertEquals(List.of(1, 2), qmp.connections());
        s.close();
    }

    @Test
    void aStandbyThatCannotBeLaunchedForAnyReasonLeavesTheNextKeepFreeToTryAgain() throws Exception {
        // a VM without a disk given one: QemuProcess's command line refuses it with an IllegalArgumentException, not
        // a HypervisorException; the start must not stay "starting" (every later keep skipped, every end waiting 30 s)
        ReplicaStandby s = standby(FakeQemu.OPTIONS);
        s.keep(DISK);
        startsDone();
        assertNull(s.current(), "no standby with disks the VM does not have");
        assertEquals(List.of(), qmp.connections());

        s.keep(List.of());
        startsDone();
        assertNotNull(s.current(), "the next keep starts one");
        assertEquals(List.of(1), qmp.connections());
        s.close();
    }

    @Test
    void aStartTheBindingRefusesLeavesNothingStarting() throws Exception {
        ReplicaStandby s = standby(FakeQemu.OPTIONS);
        owner.letGo(); // the standby thread stops: the binding is going away
        s.keep(List.of());
        // an end that took the refused start for one under way would wait its 30 s for it
        java.util.concurrent.CompletableFuture<Standby> ended = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> s.end(List.of()));
        await().atMost(Duration.ofSeconds(10)).until(ended::isDone);
        assertNull(ended.get());
        assertEquals(List.of(), qmp.connections());
    }
}
