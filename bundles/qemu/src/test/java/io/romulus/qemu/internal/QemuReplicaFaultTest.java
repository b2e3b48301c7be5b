package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * I2 under faults: the replica's RAM file on a tmpfs that fills up mid-apply. Writing a page the tmpfs has no room
 * for raises SIGBUS, which the JVM reports as an InternalError from the mapped buffer; the epoch reached the RAM file
 * in part only, so the replica must refuse activation, forks and further epochs. Needs root (it mounts a tmpfs).
 */
class QemuReplicaFaultTest {

    @TempDir
    Path dir;
    private Path run;

    @BeforeEach
    void smallTmpfs() throws Exception {
        run = dir.resolve("run");
        java.nio.file.Files.createDirectories(run);
        command("mount", "-t", "tmpfs", "-o", "size=1m", "romulus-full-test", run.toString());
    }

    @AfterEach
    void unmount() throws Exception {
        // lazily: the RAM file stays mapped until the buffers are collected
        command("umount", "-l", run.toString());
    }

    private static void command(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", cmd) + " hangs");
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + " failed (this test needs root to mount a tmpfs): "
                + out);
    }

    @Test
    void anApplyThatFillsTheTmpfsLeavesATornReplicaThatIsNeverActivated() throws Exception {
        QemuHypervisor qemu = new QemuHypervisor(new QemuSettings("qemu-system-x86_64", "tcg", run,
                run.resolve("vmlinuz"), run.resolve("initrd"), run.resolve("preload.so"), "uffd", "", "", 1000));
        Replica replica = qemu.createReplica(QemuReplicaHandOverTest.SPEC);
        try {
            replica.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 3, 4));
            assertEquals(1, replica.committedEpoch());

            // 4 MiB of pages into a 1 MiB tmpfs
            long[] pfns = LongStream.range(16, 16 + 1024).toArray();
            HypervisorException torn = assertThrows(HypervisorException.class,
                    () -> replica.applyCommitted(QemuReplicaHandOverTest.epoch(2, (byte) 2, pfns)));
            assertTrue(torn.getMessage().contains("did not finish, the replica is torn"), torn.getMessage());
            assertTrue(torn.getCause() instanceof InternalError, String.valueOf(torn.getCause()));

            List<String> refusals = new ArrayList<>();
            refusals.add(assertThrows(HypervisorException.class, replica::activate).getMessage());
            refusals.add(assertThrows(HypervisorException.class,
                    () -> replica.fork(DomainId.parse("qemu:db-clone"), Map.of())).getMessage());
            refusals.add(assertThrows(HypervisorException.class,
                    () -> replica.applyCommitted(QemuReplicaHandOverTest.epoch(3, (byte) 3, 5))).getMessage());
            for (String why : refusals) {
                assertTrue(why.contains("checkpoint 2 was applied in part only") && why.contains("InternalError"),
                        why);
            }
            assertTrue(refusals.get(0).contains("is not activated"), refusals.get(0));
        } finally {
            replica.close();
        }
    }
}
