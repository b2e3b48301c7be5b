package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.sim.internal.SimHypervisor;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sim domain with a disk the guest keeps writing to, replicated by the in-memory disk replicator over the real MINA
 * stream (DISK_WRITES records, LZ4, the epoch checksum, authentication): I2 for disk and memory on every checkpoint,
 * and a full copy of the disk again after the backup's stream restarts.
 */
class MinaDiskReplicationTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final Map<String, String> WORKLOAD = Map.of("memory", "16M", "dirty-rate", "20000",
            "packet-rate", "1000", "locality", "0.8");
    private static final int DISK_BYTES = 4 << 20;

    @TempDir
    Path dir;

    private final SimHypervisor primarySim = new SimHypervisor();
    private final SimHypervisor backupSim = new SimHypervisor();
    private final Oracle oracle = new Oracle();
    private final MemoryDiskReplicator disks = new MemoryDiskReplicator();
    private final GuestDisk vda = disks.create("vda", DISK_BYTES);
    private final AtomicLong guestWrites = new AtomicLong();
    private MinaCheckpointTransport primaryStream;
    private MinaCheckpointTransport backupStream;
    private AckRecordingTransport acks;
    private Engine primary;
    private Engine backup;
    private Thread guest;

    private TransportSettings settings(String node, int port) {
        return TransportSettings.defaults().withListen("127.0.0.1", port).withNodeId(node)
                .withSecretFile(dir.resolve("stream.secret")).withMaxRecordBytes(256 * 1024);
    }

    @BeforeEach
    void nodes() throws Exception {
        backupStream = MinaCheckpointTransport.create(settings("node-b", 0));
        primaryStream = MinaCheckpointTransport.create(settings("node-a", 0));
        acks = new AckRecordingTransport(primaryStream);
        primary = new Engine(new EngineSettings("node-a", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        primary.addHypervisor(MemoryDiskReplicator.reporting(oracle.primary(primarySim), List.of(vda)));
        primary.addOutputBufferProvider(primarySim, 0);
        primary.addDiskReplicator(disks, MemoryDiskReplicator.KIND, 0);
        primary.setTransport(acks);
        backup = new Engine(new EngineSettings("node-b", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        backup.addHypervisor(oracle.backup(backupSim));
        backup.addDiskReplicator(disks, MemoryDiskReplicator.KIND, 0);
        backup.setTransport(backupStream);
        guest = disks.startWriter(vda, guestWrites);
    }



    @AfterEach
    void stop() throws InterruptedException {
        guest.interrupt();
        guest.join(1000);
        primary.shutdown();
        backup.shutdown();
        primaryStream.close();
        backupStream.close();
        primarySim.deactivate();
        backupSim.deactivate();
    }

    private InetSocketAddress backupAddress() {
        return InetSocketAddress.createUnresolved("127.0.0.1", backupStream.listenAddress().getPort());
    }

    @Test
    void theDiskTravelsWithItsCheckpointsOverTheRealStreamAndIsResumedAfterATransportRestart() throws Exception {
        primary.protect(new ProtectRequest(DEMO, backupAddress(), 10, WORKLOAD, true));
        long from = System.nanoTime();
        await().atMost(Duration.ofSeconds(90)).until(() -> Rows.committed(backup) >= 150);
        assertEquals(ProtectionState.PROTECTED, Rows.row(primary, Role.PRIMARY).state());
        MemoryDiskReplicator.BackupDisk disk = disks.backups.get(0);
        assertTrue(disk.initialWrites >= DISK_BYTES / (64 * 1024), "the initial copy: " + disk.initialWrites);
        assertTrue(primaryStream.stats().bytesSent() > DISK_BYTES / 2, "the disk went over the stream");

        // the backup's transport goes away wherever the epoch stands; the backup keeps its replica, and the new
        // stream resumes it: the writes of the checkpoints it did not commit go again, the disk is not copied
        int port = backupStream.listenAddress().getPort();
        backupStream.close();
        await().atMost(Duration.ofSeconds(10)).until(() -> Rows.row(primary, Role.PRIMARY).state()
                == ProtectionState.DEGRADED);
        long kept = Rows.committed(backup);
        backupStream = MinaCheckpointTransport.create(settings("node-b", port));
        backup.setTransport(backupStream);
        await().atMost(Duration.ofSeconds(60)).until(() -> disk.committed.stream().filter(e -> e > kept).count() >= 50
                && Rows.row(primary, Role.PRIMARY).state() == ProtectionState.PROTECTED);
        long before = System.nanoTime();
        primary.unprotect(DEMO);

        assertTrue(guestWrites.get() > 2000, "the guest wrote: " + guestWrites.get());
        assertEquals(List.of(), disks.mismatches, "I2 for the disk on every checkpoint");
        assertEquals(List.of(), oracle.mismatches, "I2 for memory on every checkpoint");
        assertTrue(disks.checked.get() >= 200, "checked " + disks.checked.get());
        assertEquals(1, disks.backups.size(), "the resumed stream goes on with the same disk replica");
        assertEquals(1, disks.initialCopies.get(), "the resumed stream did not copy the disk again");
        assertEquals(1, oracle.replicas.get(), "nor the memory");
        assertTrue(disk.discarded.stream().noneMatch(disk.committed::contains),
                "nothing discarded was ever committed");
        Oracle.assertOutputCommit(primarySim.wire().packets(), acks.ackNanos, from, before);
    }
}
