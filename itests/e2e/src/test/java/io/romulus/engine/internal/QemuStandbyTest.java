package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.DomainId;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The backup's standby QEMU (issue 18): started once the replica committed, it waits stopped on the replica's RAM file
 * (its CPU time does not grow while checkpoints are applied), is started again when it dies, and is the QEMU that
 * failover runs. That the guest it resumes is the committed one is QemuFailoverTest's and QemuReplicationTest's to
 * show.
 */
class QemuStandbyTest {

    private static final DomainId GUEST = DomainId.parse("qemu:sb");
    private static final long CLOCK_TICKS_PER_SECOND = 100;

    @TempDir
    Path dir;

    private QemuPair nodes;

    @AfterEach
    void stop() {
        if (nodes != null) {
            nodes.close();
        }
    }

    @Test
    void theStandbyWaitsStoppedIsStartedAgainWhenItDiesAndRunsTheFailover() throws Exception {
        nodes = new QemuPair(dir, "", "", h -> h, h -> h, null, t -> t);
        nodes.primary.protect(new ProtectRequest(GUEST, nodes.backupAddress(), 25,
                Map.of("memory", "128M", "dirty-rate", "500")));
        Path console = nodes.run.resolve("a").resolve(GUEST.name()).resolve("console.log");
        await().atMost(Duration.ofMinutes(2)).until(() -> QemuPair.lastTick(console) >= 1);
        await().atMost(Duration.ofMinutes(2)).until(() -> nodes.committed() >= 1);
        long first = awaitStandby(-1);

        // stopped: a running TCG guest burns its vCPU; the standby does not, while the replica takes checkpoints
        long committed = nodes.committed();
        long before = cpuTicks(first);
        Thread.sleep(2000);
        long used = cpuTicks(first) - before;
        assertTrue(nodes.committed() > committed + 20, "checkpoints were applied meanwhile");
        assertTrue(used < CLOCK_TICKS_PER_SECOND / 5, "the standby used " + used + " ticks of CPU in 2 s");

        // it dies: the committer's next offer starts another
        ProcessHandle.of(first).orElseThrow().destroyForcibly();
        long second = awaitStandby(first);

        // failover runs the standby: the same process, now running the guest
        assertEquals(ProtectionState.ACTIVATED, nodes.backup.failover(GUEST).state());
        String failover = nodes.backup.alarms(50).stream().filter(a -> a.kind() == Alarm.Kind.FAILOVER)
                .map(Alarm::message).findFirst().orElse("");
        assertTrue(failover.contains("standby QEMU"), failover);
        assertTrue(ProcessHandle.of(second).map(ProcessHandle::isAlive).orElse(false), "the standby runs the guest");
        long running = cpuTicks(second);
        await().atMost(Duration.ofSeconds(20)).until(() -> cpuTicks(second) > running + CLOCK_TICKS_PER_SECOND / 5);
    }

    /** Waits for the backup's standby QEMU of the guest other than {@code not}, and returns its pid. */
    private long awaitStandby(long not) {
        long[] found = {-1};
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
            found[0] = standbyPid(not);
            return found[0] > 0;
        });
        return found[0];
    }

    /** The pid of a QEMU waiting for an incoming state on a RAM file under the backup's run directory, or -1. */
    private long standbyPid(long not) throws IOException {
        String backupRun = nodes.run.resolve("b").toString();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(q -> q.getFileName().toString().matches("\\d+")).toList()) {
                long pid = Long.parseLong(p.getFileName().toString());
                if (pid == not) {
                    continue;
                }
                List<String> args;
                try {
                    args = List.of(new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8)
                            .split("\0"));
                } catch (IOException gone) {
                    continue;
                }
                if (args.stream().anyMatch(a -> a.split(",", 2)[0].equals("romulus-" + GUEST.name())) && args.contains("-incoming")
                        && args.stream().anyMatch(a -> a.contains("mem-path=" + backupRun))) {
                    return pid;
                }
            }
        }
        return -1;
    }

    /** User plus system CPU time of a process, in clock ticks ({@code /proc/PID/stat} fields 14 and 15). */
    private static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.UTF_8);
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }
}
