package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.sim.internal.SimHypervisor;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A primary node and a backup node in one JVM, joined by the real MINA checkpoint stream on loopback with the
 * pre-shared secret: I1 and I2 on every epoch, and across a restart of the backup's transport.
 */
class MinaReplicationTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final Map<String, String> WORKLOAD = Map.of("memory", "16M", "dirty-rate", "20000",
            "packet-rate", "1000", "locality", "0.8");

    @TempDir
    Path dir;

    private final SimHypervisor primarySim = new SimHypervisor();
    private final SimHypervisor backupSim = new SimHypervisor();
    private final Oracle oracle = new Oracle();
    private MinaCheckpointTransport primaryStream;
    private MinaCheckpointTransport backupStream;
    private AckRecordingTransport acks;
    private Engine primary;
    private Engine backup;

    private TransportSettings settings(String node, String host, int port) {
        return TransportSettings.defaults().withListen(host, port).withNodeId(node)
                .withSecretFile(dir.resolve("stream.secret"));
    }

    @BeforeEach
    void nodes() throws Exception {
        backupStream = MinaCheckpointTransport.create(settings("node-b", "127.0.0.1", 0));
        primaryStream = MinaCheckpointTransport.create(settings("node-a", "127.0.0.1", 0));
        acks = new AckRecordingTransport(primaryStream);
        primary = new Engine(new EngineSettings("node-a", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        primary.addHypervisor(oracle.primary(primarySim));
        primary.addOutputBufferProvider(primarySim, 0);
        primary.setTransport(acks);
        backup = new Engine(new EngineSettings("node-b", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        backup.addHypervisor(oracle.backup(backupSim));
        backup.setTransport(backupStream);
    }

    @AfterEach
    void stop() {
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
    void threeHundredEpochsOverTheRealStreamKeepI1AndI2() throws Exception {
        primary.protect(new ProtectRequest(DEMO, backupAddress(), 10, WORKLOAD, true));
        long from = System.nanoTime(); // output before this was never held
        await().atMost(Duration.ofSeconds(90)).until(() -> Rows.committed(backup) >= 300);
        assertEquals(ProtectionState.PROTECTED, Rows.row(primary, Role.PRIMARY).state());
        List<OutputStatus> outputs = primary.outputs();
        assertEquals(1, outputs.size(), "romulus:netbuf shows the synthetic NIC: " + outputs);
        assertEquals("sim", outputs.get(0).stats().implementation());
        assertTrue(outputs.get(0).stats().packetsReleased() > 0, "output released on ACKs: " + outputs);
        List<EpochStats> epochs = primary.epochs(DEMO, 200);
        long before = System.nanoTime();
        primary.unprotect(DEMO);

        assertTrue(oracle.checked.get() >= 300);
        assertEquals(List.of(), oracle.mismatches, "I2");
        Oracle.assertOutputCommit(primarySim.wire().packets(), acks.ackNanos, from, before);
        Oracle.assertInOrder(primarySim.wire().packets());
        assertTrue(primarySim.wire().total() > 300, "output flowed: " + primarySim.wire().total());
        double ratio = epochs.stream().mapToLong(EpochStats::rawBytes).sum()
                / (double) epochs.stream().mapToLong(EpochStats::wireBytes).sum();
        assertTrue(ratio > 1.5, "XOR delta and LZ4 shrink checkpoints of a few bytes per page: " + ratio);
        assertTrue(primaryStream.stats().bytesSent() > 100_000, "the initial copy went over the stream");
    }

    @Test
    void aBackupWhoseTransportRestartsResumesItsReplicaAndStaysConsistent() throws Exception {
        primary.protect(new ProtectRequest(DEMO, backupAddress(), 10, WORKLOAD));
        long from = System.nanoTime(); // output before this was never held
        await().atMost(Duration.ofSeconds(60)).until(() -> Rows.committed(backup) >= 50);
        int port = backupStream.listenAddress().getPort();
        backupStream.close(); // drops the connection wherever the epoch stands
        await().atMost(Duration.ofSeconds(10)).until(() -> Rows.row(primary, Role.PRIMARY).state()
                == ProtectionState.DEGRADED);
        long kept = Rows.committed(backup);
        assertEquals(ProtectionState.STANDBY, Rows.row(backup, Role.BACKUP).state());

        backupStream = MinaCheckpointTransport.create(settings("node-b", "127.0.0.1", port));
        backup.setTransport(backupStream);
        await().atMost(Duration.ofSeconds(60)).until(() -> Rows.committed(backup) >= kept + 50
                && Rows.row(primary, Role.PRIMARY).state() == ProtectionState.PROTECTED);
        long before = System.nanoTime();
        primary.unprotect(DEMO);
        assertEquals(List.of(), oracle.mismatches, "I2 across the restart");
        assertEquals(1, oracle.replicas.get(), "the new stream resumed the replica the backup kept: no second copy");
        Oracle.assertOutputCommit(primarySim.wire().packets(), acks.ackNanos, from, before);
    }
}
