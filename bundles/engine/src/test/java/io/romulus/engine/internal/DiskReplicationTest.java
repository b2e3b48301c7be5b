package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.sim.internal.SimHypervisor;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A sim domain with one disk, replicated by the in-memory disk replicator over the in-process transport: the
 * backup's disk equals the primary's disk at the pause of every committed checkpoint (I2 for disks), and commits
 * with the memory of the same checkpoint; a cut epoch's writes never reach the backup's disk; a new stream copies the
 * disk again; a disk nothing can replicate is refused.
 */
class DiskReplicationTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final InetSocketAddress PEER = InetSocketAddress.createUnresolved("127.0.0.1", 7480);
    private static final Map<String, String> WORKLOAD = Map.of("memory", "4M", "dirty-rate", "20000",
            "packet-rate", "2000", "locality", "0.7");
    private static final int DISK_BYTES = 1 << 20;

    private final SimHypervisor primarySim = new SimHypervisor();
    private final SimHypervisor backupSim = new SimHypervisor();
    private final LoopbackTransport link = new LoopbackTransport();
    private final Oracle oracle = new Oracle();
    private final MemoryDiskReplicator disks = new MemoryDiskReplicator();
    private final GuestDisk vda = disks.create("vda", DISK_BYTES);
    private final List<Map<String, String>> replicaOptions = new CopyOnWriteArrayList<>();
    private final AtomicReference<List<GuestDisk>> activatedWith = new AtomicReference<>();
    private final AtomicLong guestWrites = new AtomicLong();
    private Engine primary;
    private Engine backup;
    private Thread guest;

    @BeforeEach
    void nodes() {
        primary = node("node-a");
        primary.addHypervisor(MemoryDiskReplicator.reporting(oracle.primary(primarySim), List.of(vda)));
        primary.addOutputBufferProvider(primarySim, 0);
        primary.addDiskReplicator(disks, MemoryDiskReplicator.KIND, 0);
        backup = node("node-b");
        backup.addHypervisor(attachingDisks(oracle.backup(backupSim)));
        backup.addDiskReplicator(disks, MemoryDiskReplicator.KIND, 0);
        primary.setTransport(link);
        backup.setTransport(link);
        guest = disks.startWriter(vda, guestWrites);
    }

    private static Engine node(String name) {
        return new Engine(new EngineSettings(name, 25, 1, 10_000, 512, 3000, 20, 4, 64,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
    }

    /** The backup's binding: records the options replicas are built with, and attaches disks on activation. */
    private Hypervisor attachingDisks(Hypervisor h) {
        return new ForwardingHypervisor(h) {
            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                replicaOptions.add(spec.options());
                return new ForwardingReplica(super.createReplica(spec)) {
                    @Override
                    public ProtectedDomain activate(List<GuestDisk> attached) throws HypervisorException {
                        activatedWith.set(attached);
                        return activate();
                    }
                };
            }
        };
    }

    @AfterEach
    void stop() throws InterruptedException {
        guest.interrupt();
        guest.join(1000);
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
    void everyCommittedCheckpointHoldsTheDiskAsItWasInItsPauseWithTheMemoryOfTheSameCheckpoint() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 150);
        assertEquals(ProtectionState.PROTECTED, row(primary, Role.PRIMARY).state());
        primary.unprotect(DEMO);

        assertTrue(guestWrites.get() > 1000, "the guest wrote: " + guestWrites.get());
        assertTrue(disks.checked.get() >= 150, "checked " + disks.checked.get());
        assertEquals(List.of(), disks.mismatches, "I2: the backup's disk differs from the primary's at the pause");
        assertEquals(List.of(), oracle.mismatches, "I2: the replica's memory differs from the primary's");
        assertEquals(1, disks.backups.size());
        MemoryDiskReplicator.BackupDisk b = disks.backups.get(0);
        assertTrue(b.initialWrites >= DISK_BYTES / (64 * 1024), "the initial copy: " + b.initialWrites + " chunks");
        assertEquals(oracle.committed, b.committed, "memory and disk commit the same checkpoints");
        assertTrue(disks.primaryCommits.size() >= 140, "the primary's side heard of the ACKs");
        assertTrue(b.committed.containsAll(disks.primaryCommits));
        for (int i = 1; i < disks.primaryCommits.size(); i++) {
            assertEquals(disks.primaryCommits.get(i - 1) + 1, disks.primaryCommits.get(i), "committed in order");
        }
        assertEquals(1, disks.primariesClosed.get(), "unprotect closes the disk's primary side");
        // the GOODBYE reaches the backup on its own thread, a moment after unprotect returned
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertTrue(b.closed,
                "the primary's GOODBYE drops the disk's replica"));

        assertEquals(1, replicaOptions.size());
        assertEquals(WORKLOAD, replicaOptions.get(0), "the binding gets its options and none of the engine's");
    }

    /**
     * A stream cut after the backup staged an epoch's disk writes: the backup drops them, the primary's next stream
     * resumes the replica (no initial copy of memory or disk) and its first checkpoint carries the cut epoch's writes
     * again; at every commit the backup's disk equals the primary's at that checkpoint's pause.
     */
    @Test
    void aCutEpochsWritesNeverReachTheBackupDiskAndTheResumedStreamSendsThemAgain() throws Exception {
        AtomicLong lastDiskRecord = new AtomicLong(-1);
        AtomicLong cutAt = new AtomicLong(-1);
        link.cutBefore = r -> {
            if (r.type().equals("disk")) {
                lastDiskRecord.set(r.epoch());
            }
            // the end of an epoch whose disk writes were already staged on the backup
            return r.type().equals("end") && r.epoch() >= 60 && r.epoch() == lastDiskRecord.get()
                    && cutAt.compareAndSet(-1, r.epoch());
        };
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(60)).until(() -> cutAt.get() > 0 && !disks.backups.isEmpty()
                && disks.backups.get(0).committed.stream().filter(e -> e > cutAt.get()).count() > 30);
        primary.unprotect(DEMO);
        long cut = cutAt.get();

        assertEquals(2, link.connects.get(), "one reconnection");
        assertEquals(1, disks.backups.size(), "the resumed stream goes on with the same disk replica");
        MemoryDiskReplicator.BackupDisk disk = disks.backups.get(0);
        assertTrue(disk.committed.contains(cut - 1));
        assertFalse(disk.committed.contains(cut), "epoch " + cut + " was cut before its end");
        assertTrue(disk.discarded.contains(cut), "its staged writes were dropped: " + disk.discarded);
        assertEquals(1, disks.initialCopies.get(), "the resumed stream did not copy the disk again");
        assertEquals(1, disks.primariesClosed.get(), "the disk's primary side lived across the cut until unprotect");
        assertEquals(List.of(), disks.mismatches, "I2 for disks across the cut");
        assertEquals(List.of(), oracle.mismatches, "I2 for memory across the cut");
        assertFalse(oracle.committed.contains(cut));
    }

    @Test
    void failoverActivatesTheReplicaWithItsDisksAtTheLastCommittedCheckpoint() throws Exception {
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOnBackup() >= 50);
        link.refuse = true;
        link.cut();
        await().atMost(Duration.ofSeconds(5)).until(() -> row(backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        long committed = committedOnBackup();

        assertEquals(ProtectionState.ACTIVATED, backup.failover(DEMO).state());
        assertEquals(List.of(new GuestDisk("vda", MemoryDiskReplicator.KIND, "mem-replica:/vda", DISK_BYTES)),
                activatedWith.get(), "the binding got the disk as the replicator activated it");
        MemoryDiskReplicator.BackupDisk b = disks.backups.get(disks.backups.size() - 1);
        assertTrue(b.activated);
        assertEquals(committed, b.committed.get(b.committed.size() - 1));
        assertEquals(disks.pauseDigests.get("vda").get(committed), b.digest(),
                "the activated disk is the primary's disk at the pause of the activated checkpoint");
        assertEquals(List.of(), disks.mismatches);
    }

    @Test
    void aBindingThatCannotAttachDisksRefusesToActivateWithThem() throws Exception {
        Replica plain = new ForwardingReplica(backupSim.createReplica(new ReplicaSpec(DomainId.parse("sim:plain"),
                1 << 20, 4096, Map.of())));
        try {
            HypervisorException e = assertThrows(HypervisorException.class, () -> plain.activate(List.of(vda)));
            assertTrue(e.getMessage().contains("sim:plain cannot be activated with its replicated disks (vda)"),
                    e.getMessage());
        } finally {
            plain.close();
        }
    }

    @Test
    void aDiskNothingCanReplicateIsRefusedOnEitherSide() throws Exception {
        Engine bare = node("node-c");
        bare.addHypervisor(MemoryDiskReplicator.reporting(primarySim, List.of(vda)));
        bare.addOutputBufferProvider(primarySim, 0);
        bare.setTransport(new LoopbackTransport());
        var e = assertThrows(IllegalStateException.class,
                () -> bare.protect(new ProtectRequest(DomainId.parse("sim:nodisk"), PEER, 0, WORKLOAD)));
        assertTrue(e.getMessage().contains("no disk replicator can replicate disk vda (kind mem")
                && e.getMessage().contains("installed: none"), e.getMessage());
        assertNull(primarySim.domain("nodisk"), "the domain opened for it was closed again");

        MemoryDiskReplicator other = new MemoryDiskReplicator();
        bare.addDiskReplicator(other, MemoryDiskReplicator.KIND, 0);
        e = assertThrows(IllegalStateException.class,
                () -> bare.protect(new ProtectRequest(DomainId.parse("sim:nodisk"), PEER, 0, WORKLOAD)));
        assertTrue(e.getMessage().contains("installed: memory (kind mem, does not support it)"), e.getMessage());
        bare.shutdown();

        // a backup without a replicator of the disk's kind refuses the HELLO; the primary says why
        backup.removeDiskReplicator(disks);
        primary.protect(new ProtectRequest(DEMO, PEER, 5, WORKLOAD));
        await().atMost(Duration.ofSeconds(10)).until(() -> row(primary, Role.PRIMARY).detail()
                .contains("no disk replicator for disk vda (kind mem)"));
        assertEquals(-1, committedOnBackup());
        assertEquals(List.of(), replicaOptions, "no replica was built");
        assertTrue(disks.backups.isEmpty());
    }
}
