package io.romulus.qemu.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A switchover's old copy ({@link SwitchoverStop}): its QEMU is stopped (SIGSTOP) before anything else, its RAM file
 * becomes a replica at the epoch the backup acknowledged, its directory goes, and its QEMU is killed later. Against
 * a {@link FakeQemu}: a process that can be stopped and killed, no guest.
 */
class SwitchoverStopTest {

    private static final ReplicaSpec SPEC = new ReplicaSpec(DomainId.parse("qemu:db"), 32L << 20, 4096,
            FakeQemu.OPTIONS);

    @TempDir
    Path run;
    private FakeQemu qemu;
    private QemuReplicas replicas;
    private SwitchoverStop stop;
    private final List<String> kept = new ArrayList<>();

    @BeforeEach
    void binding() throws Exception {
        qemu = new FakeQemu(run);
        replicas = new QemuReplicas(qemu.launcher(), new QemuGuests(qemu.launcher()));
        stop = new SwitchoverStop(qemu.launcher());
        stop.keeper((spec, dir, deviceState, epoch) -> {
            kept.add(spec.id() + " at " + epoch + " in " + dir.getFileName());
            return replicas.kept(spec, dir, deviceState, epoch);
        });
    }

    @AfterEach
    void end() throws Exception {
        replicas.letGo();
        qemu.close();
    }

    /** The fake guest {@code db} with byte {@code fill} at the start of page {@code pfn} of its RAM file. */
    private QemuGuest guest(long pfn, byte fill) throws Exception {
        QemuGuest g = qemu.start("db", run.resolve("db"));
        try (RandomAccessFile ram = new RandomAccessFile(g.process().dir().resolve("ram").toFile(), "rw")) {
            ram.seek(pfn * 4096);
            ram.write(fill);
        }
        return g;
    }

    @Test
    void theOldCopyIsStoppedAndItsRamFileBecomesTheReplicaOfTheAcknowledgedEpoch() throws Exception {
        QemuGuest g = guest(7, (byte) 42);
        long pid = g.process().pid();

        SwitchoverStop.Stopped stopped = stop.stop(g);
        assertEquals('T', FakeQemu.state(pid), "its QEMU is stopped (SIGSTOP), not killed yet");
        assertTrue(stopped.how().startsWith("QEMU stopped (SIGSTOP, killed 1000 ms later), no tap"), stopped.how());
        assertTrue(Files.isDirectory(stopped.replicaDir()));

        Replica r = stop.keep(stopped, SPEC, new byte[] {'d', 'e', 'v'}, 9);
        assertEquals(List.of("qemu:db at 9 in " + stopped.replicaDir().getFileName()), kept);
        assertEquals(9, r.committedEpoch());
        ByteBuffer page = ByteBuffer.allocate(4096);
        r.readPage(7, page);
        assertEquals(42, page.get(0), "the replica is the old copy's RAM");
        assertFalse(Files.exists(g.process().dir()), "the old copy's directory is gone");

        await().atMost(Duration.ofSeconds(30)).until(() -> !qemu.anyRuns());
        r.close();
    }

    @Test
    void aGuestWhoseReplicaDirectoryCannotBeMadeIsLeftRunning() throws Exception {
        QemuGuest g = guest(0, (byte) 1);
        Path notADirectory = run.resolve("file");
        Files.writeString(notADirectory, "");
        QemuSettings s = qemu.settings();
        SwitchoverStop blocked = new SwitchoverStop(new GuestLauncher(() -> new QemuSettings(s.qemuBinary(), s.accel(),
                notADirectory, s.kernel(), s.initrd(), s.preloadLibrary(), s.dirtyTracker(), s.netns(), s.bridge(),
                s.qmpTimeoutMs()), () -> null, () -> null));
        HypervisorException e = assertThrows(HypervisorException.class, () -> blocked.stop(g));
        assertTrue(e.getMessage().contains("for the replica of qemu:db"), e.getMessage());
        assertNotEquals('T', FakeQemu.state(g.process().pid()), "its QEMU runs on");
        assertTrue(Files.exists(g.process().dir().resolve("ram")));
        g.process().close();
    }

    /**
     * A node that dies in the second between an old copy's SIGSTOP and its kill leaves that QEMU stopped for good: the
     * binding's next start kills it, known by its pid file gone from the run directory, and nothing else.
     */
    @Test
    void aCopyLeftStoppedByANodeThatDiedIsKilledWhenTheBindingStartsAgain(@TempDir Path elsewhere) throws Exception {
        QemuGuest orphan = qemu.start("orphan", run.resolve("orphan"));
        QemuGuest running = qemu.start("running", run.resolve("running"));
        QemuGuest paused = qemu.start("paused", run.resolve("paused"));
        QemuGuest other = qemu.start("other", elsewhere.resolve("other"));
        // what stop and keep leave when the node dies before the kill: stopped, the directory gone
        orphan.process().freeze();
        RunDirectory.deleteTree(orphan.process().dir());
        // stopped with its pid file in place (by someone else), and one of another run directory
        paused.process().freeze();
        other.process().freeze();
        Files.delete(other.process().dir().resolve("qemu.pid"));

        assertEquals(1, SwitchoverStop.killLeftBehind(run));
        await().atMost(Duration.ofSeconds(10)).until(() -> !ProcessHandle.of(orphan.process().pid())
                .map(ProcessHandle::isAlive).orElse(false));
        assertEquals('S', FakeQemu.state(running.process().pid()));
        assertEquals('T', FakeQemu.state(paused.process().pid()));
        assertEquals('T', FakeQemu.state(other.process().pid()));
        assertEquals(0, SwitchoverStop.killLeftBehind(run), "nothing left to kill");
        for (QemuGuest g : List.of(running, paused, other)) {
            ProcessHandle.of(g.process().pid()).ifPresent(ProcessHandle::destroyForcibly);
            g.process().close();
        }
    }
}
