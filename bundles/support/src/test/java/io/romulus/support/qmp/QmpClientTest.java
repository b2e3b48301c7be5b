package io.romulus.support.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against a real QEMU (no guest: {@code -machine none}, started paused). scripts/test installs qemu-system-x86; if
 * it is missing this test fails and says so.
 */
class QmpClientTest {

    @TempDir
    Path dir;

    private Process qemu;
    private QmpClient qmp;

    static String qemuBinary() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            File f = new File(d, "qemu-system-x86_64");
            if (f.canExecute()) {
                return f.getPath();
            }
        }
        throw new AssertionError("qemu-system-x86_64 is missing: install the Debian package qemu-system-x86 "
                + "(scripts/test does)");
    }

    @BeforeEach
    void start() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        qemu = new ProcessBuilder(qemuBinary(), "-machine", "none", "-nodefaults", "-display", "none", "-S",
                "-qmp", "unix:" + socket + ",server=on,wait=off")
                .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
        qmp = QmpClient.connect(socket, Duration.ofSeconds(20));
    }

    @AfterEach
    void stop() throws Exception {
        if (qmp != null) {
            qmp.close();
        }
        qemu.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    @Test
    void greetsRunsCommandsAndDeliversEvents() throws Exception {
        assertTrue(qmp.version().matches("\\d+\\.\\d+\\.\\d+"), qmp.version());
        assertTrue(qmp.greeting().has("capabilities"));
        BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
        qmp.onEvent(events::add);

        JsonNode status = qmp.execute("query-status", null);
        assertFalse(status.path("running").asBoolean());
        assertEquals("prelaunch", status.path("status").asText());

        qmp.execute("cont", null);
        assertEquals("RESUME", next(events).name());
        assertTrue(qmp.execute("query-status", null).path("running").asBoolean());
        qmp.execute("stop", null);
        QmpEvent stop = next(events);
        assertEquals("STOP", stop.name());
        assertTrue(stop.timestampMicros() > 1_600_000_000_000_000L, "QEMU's timestamp");
        assertEquals("paused", qmp.execute("query-status", null).path("status").asText());
    }

    @Test
    void errorsCarryQemusClassAndDescription() throws Exception {
        QmpException unknown = assertThrows(QmpException.class, () -> qmp.execute("no-such-command", null));
        assertEquals("CommandNotFound", unknown.errorClass());
        assertTrue(unknown.getMessage().contains("no-such-command"), unknown.getMessage());

        QmpException bad = assertThrows(QmpException.class,
                () -> qmp.execute("xen-save-devices-state", QmpClient.arguments().put("live", false)));
        assertEquals("GenericError", bad.errorClass());
        assertTrue(bad.getMessage().contains("filename"), bad.getMessage());
        assertTrue(qmp.isOpen(), "an error answer keeps the connection");
    }

    @Test
    void concurrentCommandsGetTheirOwnAnswersAndAQuitEndsTheConnection() throws Exception {
        List<Thread> threads = new java.util.ArrayList<>();
        List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int t = 0; t < 4; t++) {
            Thread th = new Thread(() -> {
                try {
                    for (int i = 0; i < 50; i++) {
                        assertTrue(qmp.execute("query-version", null).has("qemu"));
                        assertTrue(qmp.execute("query-status", null).has("status"));
                    }
                } catch (IOException | InterruptedException | AssertionError e) {
                    failures.add(e);
                }
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) {
            th.join();
        }
        assertEquals(List.of(), failures);

        BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
        qmp.onEvent(events::add);
        qmp.execute("quit", null);
        assertEquals("SHUTDOWN", next(events).name());
        assertTrue(qemu.waitFor(10, TimeUnit.SECONDS), "QEMU exits on quit");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (qmp.isOpen() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertFalse(qmp.isOpen());
        QmpException closed = assertThrows(QmpException.class, () -> qmp.execute("query-status", null));
        assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
    }

    @Test
    void aMissingSocketIsReportedWithItsPath() {
        Path nowhere = dir.resolve("none.sock");
        QmpException e = assertThrows(QmpException.class, () -> QmpClient.connect(nowhere, Duration.ofMillis(200)));
        assertTrue(e.getMessage().contains(nowhere.toString()), e.getMessage());
    }

    private static QmpEvent next(BlockingQueue<QmpEvent> events) throws InterruptedException {
        QmpEvent e = events.poll(10, TimeUnit.SECONDS);
        if (e == null) {
            throw new AssertionError("no QMP event within 10 s");
        }
        return e;
    }
}
