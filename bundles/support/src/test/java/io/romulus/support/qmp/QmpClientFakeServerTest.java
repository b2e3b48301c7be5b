package io.romulus.support.qmp;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.node.ObjectNode;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client against a scripted QMP server on a unix socket, as QEMU speaks it: a greeting, answers that echo the
 * request's id, events in between; runs without QEMU.
 */
class QmpClientFakeServerTest {

    @TempDir
    Path dir;
    private FakeQmpServer server;

    @BeforeEach
    void start() throws IOException {
        server = FakeQmpServer.start(dir.resolve("qmp.sock"), QmpClientFakeServerTest::answer);
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    private static List<String> answer(ObjectNode command, String id) throws IOException {
        return switch (command.path("execute").asText()) {
            case "stop" -> List.of(FakeQmpServer.event("STOP", 1_700_000_000, 5), FakeQmpServer.ok(id));
            case "query-status" -> List.of("{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": " + id
                    + "}");
            case "quit" -> List.of();
            case "qmp_capabilities" -> List.of(FakeQmpServer.ok(id));
            default -> List.of(FakeQmpServer.error(id, "CommandNotFound", "The command "
                    + command.path("execute").asText() + " has not been found"));
        };
    }

    @Test
    void negotiatesRunsCommandsByIdAndDeliversEvents() throws Exception {
        try (QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofSeconds(5))) {
            assertEquals("7.2.2", qmp.version());
            BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
            qmp.onEvent(events::add);
            qmp.execute("stop", null);
            QmpEvent stop = events.poll(5, TimeUnit.SECONDS);
            assertEquals("STOP", stop == null ? null : stop.name());
            assertEquals(1_700_000_000_000_005L, stop.timestampMicros());
            assertEquals("paused", qmp.execute("query-status", null).path("status").asText());
            assertEquals(List.of("{\"execute\":\"qmp_capabilities\"}", "{\"execute\":\"stop\"}",
                    "{\"execute\":\"query-status\"}"), server.commands(), "capabilities first");
        }
    }

    @Test
    void anErrorCarriesQemusClassAndTheConnectionStays() throws Exception {
        try (QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofSeconds(5))) {
            QmpException e = assertThrows(QmpException.class,
                    () -> qmp.execute("xen-save-devices-state", QmpClient.arguments().put("filename", "/x")));
            assertEquals("CommandNotFound", e.errorClass());
            assertTrue(e.getMessage().contains("xen-save-devices-state"), e.getMessage());
            assertEquals("{\"execute\":\"xen-save-devices-state\",\"arguments\":{\"filename\":\"/x\"}}",
                    server.commands().get(1));
            assertTrue(qmp.isOpen());
            assertEquals("paused", qmp.execute("query-status", null).path("status").asText());
        }
    }

    @Test
    void aServerThatGoesAwayFailsTheNextCommand() throws Exception {
        try (QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofSeconds(5))) {
            QmpException quit = assertThrows(QmpException.class, () -> qmp.execute("quit", null));
            assertTrue(quit.getMessage().contains("closed"), quit.getMessage());
            await().atMost(5, TimeUnit.SECONDS).until(() -> !qmp.isOpen());
            QmpException e = assertThrows(QmpException.class, () -> qmp.execute("query-status", null));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
    }

    @Test
    void pipelinedCommandsAnswerInOrderAndTheFirstFailureIsReported() throws Exception {
        try (QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofSeconds(5))) {
            long[] handOff = new long[1];
            List<com.fasterxml.jackson.databind.JsonNode> answers = qmp.executeAll(List.of("stop", "query-status"),
                    java.util.Arrays.asList(null, null), handOff);
            assertEquals(2, answers.size());
            assertEquals("paused", answers.get(1).path("status").asText());
            assertTrue(handOff[0] >= 0);
            QmpException e = assertThrows(QmpException.class, () -> qmp.executeAll(List.of("nope", "query-status"),
                    java.util.Arrays.asList(null, null), null));
            assertEquals("CommandNotFound", e.errorClass());
            assertTrue(e.getMessage().startsWith("nope"), e.getMessage());
            assertEquals("paused", qmp.execute("query-status", null).path("status").asText(), "the connection stays");
            String status = "{\"execute\":\"query-status\"}";
            assertEquals(List.of("{\"execute\":\"qmp_capabilities\"}", "{\"execute\":\"stop\"}", status,
                    "{\"execute\":\"nope\"}", status, status), server.commands(),
                    "QEMU runs every pipelined command, in order, the one after a failure too");
        }
    }

    @Test
    void aMissingSocketIsReportedWithItsPathWithinTheTimeout() {
        Path nowhere = dir.resolve("none.sock");
        long start = System.nanoTime();
        QmpException e = assertThrows(QmpException.class, () -> QmpClient.connect(nowhere, Duration.ofMillis(200)));
        assertTrue(e.getMessage().contains(nowhere.toString()), e.getMessage());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5));
    }

    @Test
    void aServerThatNeverGreetsFailsTheConnectWithinTheTimeout() throws Exception {
        Path socket = dir.resolve("mute.sock");
        try (FakeQmpServer mute = FakeQmpServer.startSilent(socket)) {
            // preemptive: a client that waits for the greeting forever fails here instead of hanging the build
            QmpException e = assertTimeoutPreemptively(Duration.ofSeconds(3), () -> assertThrows(QmpException.class,
                    () -> QmpClient.connect(socket, Duration.ofMillis(300))));
            assertTrue(e.getMessage().contains("no QMP greeting"), e.getMessage());
            assertEquals(List.of(1), mute.connections(), "one connection, closed again");
            assertEquals(List.of(), mute.commands());
        }
    }
}
