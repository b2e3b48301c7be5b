package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.qemu.internal.QemuHypervisor;
import io.romulus.qemu.internal.QemuSettings;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;

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
    private static final Pattern TICK = Pattern.compile("romulus-tick (\\d+)");

    @TempDir
    Path dir;

    private final Path run = Path.of("/dev/shm", "romulus-e2e-" + ProcessHandle.current().pid());
    private final SampledRamWitness witness = new SampledRamWitness(100);
    private QemuHypervisor primaryQemu;
    private QemuHypervisor backupQemu;
    private MinaCheckpointTransport primaryStream;
    private MinaCheckpointTransport backupStream;
    private Engine primary;
    private Engine backup;

    static QemuSettings settings(Path runDir) {
        Path guest = Path.of(System.getProperty("romulus.guest.dir", "../../native/target/guest"));
        Path preload = Path.of(System.getProperty("romulus.uffd.preload",
                "../../native/target/lib/libromulus-uffd.so"));
        for (Path p : List.of(guest.resolve("vmlinuz"), guest.resolve("initramfs.cpio.gz"), preload)) {
            if (!Files.isReadable(p)) {
                throw new AssertionError(p.toAbsolutePath() + " is missing: build native/ first (scripts/test does)");
            }
        }
        return new QemuSettings("qemu-system-x86_64", "tcg", runDir, guest.resolve("vmlinuz"),
                guest.resolve("initramfs.cpio.gz"), preload, "uffd", "", "", 10_000);
    }

    @BeforeEach
    void nodes() throws Exception {
        primaryQemu = new QemuHypervisor(settings(run.resolve("a")));
        backupQemu = new QemuHypervisor(settings(run.resolve("b")));
        assertTrue(primaryQemu.availability().available(), primaryQemu.availability().reason());
        TransportSettings t = TransportSettings.defaults().withSecretFile(dir.resolve("stream.secret"));
        backupStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("node-b"));
        primaryStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("node-a"));
        primary = new Engine(new EngineSettings("node-a", 25, 1, 10_000, 2048, 5000, 50, 4, 256));
        primary.addHypervisor(witness.primary(primaryQemu));
        primary.setTransport(primaryStream);
        backup = new Engine(new EngineSettings("node-b", 25, 1, 10_000, 2048, 5000, 50, 4, 256));
        backup.addHypervisor(witness.backup(backupQemu));
        backup.setTransport(backupStream);
    }

    @AfterEach
    void stop() {
        primary.shutdown();
        backup.shutdown();
        primaryStream.close();
        backupStream.close();
        primaryQemu.destroyAll();
        backupQemu.destroyAll();
        try (var paths = Files.walk(run)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private ProtectionStatus row(Engine engine, Role role) {
        return engine.status().stream().filter(s -> s.role() == role).findFirst().orElse(null);
    }

    private long committed() {
        ProtectionStatus s = row(backup, Role.BACKUP);
        return s == null ? -1 : s.epoch();
    }

    private static long lastTick(Path console) throws IOException {
        if (!Files.exists(console)) {
            return -1;
        }
        Matcher m = TICK.matcher(Files.readString(console, StandardCharsets.ISO_8859_1));
        long last = -1;
        while (m.find()) {
            last = Long.parseLong(m.group(1));
        }
        return last;
    }

    @Test
    void aThousandCheckpointsMatchTheReplicaAndTheBackupResumesTheGuest() throws Exception {
        InetSocketAddress peer = InetSocketAddress.createUnresolved("127.0.0.1",
                backupStream.listenAddress().getPort());
        primary.protect(new ProtectRequest(GUEST, peer, 25, Map.of("memory", "128M", "dirty-rate", "2000")));
        Path primaryConsole = run.resolve("a").resolve("e2e").resolve("console.log");
        await().atMost(Duration.ofSeconds(120)).until(() -> lastTick(primaryConsole) >= 1);
        await().atMost(Duration.ofSeconds(240)).until(() -> committed() >= 1000);

        assertEquals(ProtectionState.PROTECTED, row(primary, Role.PRIMARY).state());
        assertTrue(witness.compared.get() >= 5, "sampled epochs compared: " + witness.compared.get());
        assertEquals(List.of(), witness.mismatches, "I2: replica RAM byte-identical at sampled epochs");
        List<EpochStats> epochs = primary.epochs(GUEST, 500);
        long withDirt = epochs.stream().filter(e -> e.dirtyPages() > 0).count();
        assertTrue(withDirt > epochs.size() / 2, "the guest's workload dirties pages: " + withDirt + " of "
                + epochs.size() + " epochs");

        // the primary host dies: its QEMU is killed; the backup resumes the guest from its last committed epoch
        long ticksBefore = lastTick(primaryConsole);
        primaryQemu.destroyAll();
        await().atMost(Duration.ofSeconds(10)).until(() -> row(backup, Role.BACKUP).state()
                == ProtectionState.STANDBY || row(primary, Role.PRIMARY).state() == ProtectionState.FAILED);
        ProtectionStatus activated = backup.failover(GUEST);
        assertEquals(ProtectionState.ACTIVATED, activated.state());
        Path backupConsole = Files.list(run.resolve("b")).filter(p -> p.getFileName().toString().startsWith("e2e."))
                .findFirst().orElseThrow().resolve("console.log");
        await().atMost(Duration.ofSeconds(30)).until(() -> lastTick(backupConsole) > 0);
        String resumed = Files.readString(backupConsole, StandardCharsets.ISO_8859_1);
        assertTrue(!resumed.contains("ROMULUS-GUEST-READY"), "the guest resumed; it did not boot again:\n" + resumed);
        long first = lastTick(backupConsole);
        assertTrue(first >= ticksBefore - 5 && first <= ticksBefore + 30, "the guest's clock of ticks goes on "
                + "from where the primary was (" + ticksBefore + "), not from the start: " + first);
        long later = first;
        await().atMost(Duration.ofSeconds(30)).until(() -> lastTick(backupConsole) > later + 2);
    }
}
