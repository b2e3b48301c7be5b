package io.romulus.support.process;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Commands run to their end, or are killed at their timeout whether they print nothing or a lot. */
class ProcessRunnerTest {

    @TempDir
    Path dir;

    @Test
    void exitCodeStdoutAndStderrApart() throws Exception {
        CommandResult r = ProcessRunner.run(List.of("/bin/sh", "-c", "echo out; echo err >&2; exit 10"),
                Duration.ofSeconds(10));
        assertEquals(10, r.exit());
        assertFalse(r.ok());
        assertEquals("out\n", r.out());
        assertEquals("err\n", r.err());
        assertEquals("/bin/sh -c echo out; echo err >&2; exit 10 exited with 10: err", r.describe());
    }

    @Test
    void mergedStderrAndStdinFromDevNull() throws Exception {
        CommandResult r = ProcessRunner.run(new ProcessBuilder("/bin/sh", "-c", "echo a; echo b >&2; cat")
                .redirectErrorStream(true), Duration.ofSeconds(10));
        assertTrue(r.ok(), r.describe());
        assertEquals("a\nb\n", r.out(), "cat ends at once: stdin is /dev/null");
        assertEquals("", r.err());
    }

    @Test
    void aSilentCommandIsKilledAtItsTimeout() {
        long start = System.nanoTime();
        CommandException e = assertThrows(CommandException.class,
                () -> ProcessRunner.run(List.of("/bin/sleep", "30"), Duration.ofMillis(300)));
        long took = System.nanoTime() - start;
        assertEquals(CommandException.Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().contains("did not finish within 300 ms"), e.getMessage());
        assertTrue(took >= TimeUnit.MILLISECONDS.toNanos(300), "not before the timeout");
        assertTrue(took < TimeUnit.SECONDS.toNanos(10), "at the timeout, not after sleep 30: " + took / 1_000_000);
    }

    @Test
    void aCommandThatPrintsALotAndThenHangsIsKilledAtItsTimeout() {
        long start = System.nanoTime();
        // 64 MiB, far more than a pipe holds, then silence: a runner that reads before it waits never times out
        CommandException e = assertThrows(CommandException.class, () -> ProcessRunner.run(List.of("/bin/sh", "-c",
                "head -c 67108864 /dev/zero; echo done >&2; sleep 30"), Duration.ofSeconds(2)));
        assertEquals(CommandException.Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().endsWith(": done"), "what it said on stderr: " + e.getMessage());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(15));
    }

    @Test
    void aCommandThatPrintsWithoutEndIsKilledWithItsChildren() throws Exception {
        Path pid = dir.resolve("child.pid");
        long start = System.nanoTime();
        CommandException e = assertThrows(CommandException.class, () -> ProcessRunner.run(List.of("/bin/sh", "-c",
                "yes romulus & echo $! > " + pid + "; wait"), Duration.ofSeconds(1)));
        assertEquals(CommandException.Reason.TIMED_OUT, e.reason());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
        long child = Long.parseLong(Files.readString(pid).trim());
        await().atMost(10, TimeUnit.SECONDS).until(() -> ProcessHandle.of(child).map(p -> !p.isAlive()).orElse(true));
    }

    @Test
    void outputBeyondTheKeptSizeIsDroppedNotBlocking() throws Exception {
        CommandResult r = ProcessRunner.run(List.of("/bin/sh", "-c", "head -c " + (ProcessRunner.KEPT_BYTES + 4096)
                + " /dev/zero"), Duration.ofSeconds(20));
        assertTrue(r.ok());
        assertTrue(r.out().endsWith("MiB dropped]"), r.out().substring(r.out().length() - 40));
    }

    @Test
    void aMissingExecutableIsNotStarted() {
        CommandException e = assertThrows(CommandException.class,
                () -> ProcessRunner.run(List.of("/nonexistent/drbdsetup", "events2"), Duration.ofSeconds(5)));
        assertEquals(CommandException.Reason.NOT_STARTED, e.reason());
        assertTrue(e.getMessage().startsWith("cannot run /nonexistent/drbdsetup events2"), e.getMessage());
    }

    @Test
    void anInterruptKillsTheCommand() throws Exception {
        Path pid = dir.resolve("sleep.pid");
        Thread caller = Thread.currentThread();
        Thread interrupter = new Thread(() -> {
            await().atMost(10, TimeUnit.SECONDS).until(() -> Files.exists(pid) && Files.size(pid) > 0);
            caller.interrupt();
        });
        interrupter.start();
        assertThrows(InterruptedException.class, () -> ProcessRunner.run(List.of("/bin/sh", "-c",
                "echo $$ > " + pid + "; exec sleep 30"), Duration.ofSeconds(60)));
        interrupter.join();
        long sleeping = Long.parseLong(Files.readString(pid).trim());
        await().atMost(10, TimeUnit.SECONDS).until(() -> ProcessHandle.of(sleeping).map(p -> !p.isAlive())
                .orElse(true));
    }
}
