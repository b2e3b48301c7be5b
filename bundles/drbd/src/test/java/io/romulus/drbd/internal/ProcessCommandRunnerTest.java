package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** Forking: exit codes, stderr, timeouts, and streamed lines. */
class ProcessCommandRunnerTest {

    private final ProcessCommandRunner runner = new ProcessCommandRunner();

    @Test
    void exitCodeAndStderr() throws Exception {
        CommandRunner.Result r = runner.run(List.of("/bin/sh", "-c", "echo out; echo err >&2; exit 10"),
                Duration.ofSeconds(10));
        assertEquals(10, r.exit());
        assertEquals("out\n", r.out());
        assertEquals("err\n", r.err());
        DrbdCommandException e = DrbdCommandException.failed("do it", r);
        assertEquals("cannot do it: /bin/sh -c echo out; echo err >&2; exit 10 exited with 10: err", e.getMessage());
    }

    @Test
    void aCommandThatHangsIsKilled() {
        long start = System.nanoTime();
        DrbdCommandException e = assertThrows(DrbdCommandException.class,
                () -> runner.run(List.of("/bin/sleep", "30"), Duration.ofMillis(300)));
        assertTrue(e.getMessage().contains("did not finish within"), e.getMessage());
        assertEquals(-1, e.exit());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
    }

    @Test
    void aMissingExecutable() {
        DrbdCommandException e = assertThrows(DrbdCommandException.class,
                () -> runner.run(List.of("/nonexistent/drbdsetup", "events2"), Duration.ofSeconds(5)));
        assertTrue(e.getMessage().startsWith("cannot run /nonexistent/drbdsetup events2"), e.getMessage());
    }

    @Test
    void streamedLinesAndTheEnd() throws Exception {
        List<String> lines = new CopyOnWriteArrayList<>();
        try (CommandRunner.Running r = runner.stream(List.of("/bin/sh", "-c",
                "echo 'exists -'; echo 'change resource name:r0 role:Primary'; echo gone >&2; exit 3"),
                lines::add)) {
            CommandRunner.Result end = r.exit().get(10, TimeUnit.SECONDS);
            assertEquals(3, end.exit());
            assertEquals("gone\n", end.err());
        }
        assertEquals(List.of("exists -", "change resource name:r0 role:Primary"), lines);
    }

    @Test
    void aStreamIsStoppedByClose() throws Exception {
        CommandRunner.Running r = runner.stream(List.of("/bin/sleep", "30"), line -> { });
        r.close();
        CommandRunner.Result end = r.exit().get(10, TimeUnit.SECONDS);
        assertTrue(end.exit() != 0);
    }
}
