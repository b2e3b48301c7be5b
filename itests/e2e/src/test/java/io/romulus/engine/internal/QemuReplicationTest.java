package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo guest, a real Linux VM under QEMU (TCG), protected by a primary engine and replicated to a backup engine
 * over the real MINA stream on loopback: a thousand checkpoints with the replica byte-identical to the primary at
 * sampled committed epochs, then the primary's QEMU is killed and the backup resumes the guest from its replica.
 * Needs QEMU and native/'s guest image and preload library (scripts/test builds them); without them it fails.
 */
class QemuReplicationTest {

    private static final DomainId GUEST = DomainId.parse("qemu:e2e");

    @TempDir
    Path dir;

    private final SampledRamWitness witness = new SampledRamWitness(100);
    private QemuPair nodes;

    @BeforeEach
    void nodes() throws Exception {
        nodes = new QemuPair(dir, "", "", witness::primary, witness::backup, null, t -> t);
    }

    @AfterEach
    void stop() {
        if (nodes != null) {
            nodes.close();
        }
    }

    @Test
    void aThousandCheckpointsMatchTheReplicaAndTheBackupResumesTheGuest() throws Exception {
        Engine primary = nodes.primary;
        Engine backup = nodes.backup;
        primary.protect(new ProtectRequest(GUEST, nodes.backupAddress(), 25, Map.of("memory", "128M", "dirty-rate", "2000")));
        Path primaryConsole = nodes.run.resolve("a").resolve("e2e").resolve("console.log");
        await().atMost(Duration.ofMinutes(2)).until(() -> QemuPair.lastTick(primaryConsole) >= 1);
        await().atMost(Duration.ofMinutes(4)).until(() -> nodes.committed() >= 1000);

        assertEquals(ProtectionState.PROTECTED, nodes.row(primary, Role.PRIMARY).state());
        assertTrue(witness.compared.get() >= 5, "sampled epochs compared: " + witness.compared.get());
        assertEquals(List.of(), witness.mismatches, "I2: replica RAM byte-identical at sampled epochs");
        List<EpochStats> epochs = primary.epochs(GUEST, 500);
        long withDirt = epochs.stream().filter(e -> e.dirtyPages() > 0).count();
        assertTrue(withDirt > epochs.size() / 2, "the guest's workload dirties pages: " + withDirt + " of "
                + epochs.size() + " epochs");

        // the primary host dies: its QEMU is killed; the backup resumes the guest from its last committed epoch
        long ticksBefore = QemuPair.lastTick(primaryConsole);
        nodes.primaryQemu.destroyAll();
        await().atMost(Duration.ofSeconds(10)).until(() -> nodes.row(backup, Role.BACKUP).state()
                == ProtectionState.STANDBY || nodes.row(primary, Role.PRIMARY).state() == ProtectionState.FAILED);
        ProtectionStatus activated = backup.failover(GUEST);
        assertEquals(ProtectionState.ACTIVATED, activated.state());
        Path backupConsole = nodes.activatedDir("e2e").resolve("console.log");
        await().atMost(Duration.ofSeconds(30)).until(() -> QemuPair.lastTick(backupConsole) > 0);
        String resumed = Files.readString(backupConsole, StandardCharsets.ISO_8859_1);
        assertTrue(!resumed.contains("ROMULUS-GUEST-READY"), "the guest resumed; it did not boot again:\n" + resumed);
        long first = QemuPair.lastTick(backupConsole);
        assertTrue(first >= ticksBefore - 5 && first <= ticksBefore + 30, "the guest's clock of ticks goes on "
                + "from where the primary was (" + ticksBefore + "), not from the start: " + first);
        long later = first;
        await().atMost(Duration.ofSeconds(30)).until(() -> QemuPair.lastTick(backupConsole) > later + 2);
    }
}
