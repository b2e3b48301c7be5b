package io.romulus.support.qmp;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client against a scripted QMP server on a unix socket, as QEMU speaks it: a greeting, answers that echo the
 * request's id, events in between; runs without QEMU.
 */
class QmpClientFakeServerTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private ServerSocketChannel server;
    private Thread serving;
    private final List<JsonNode> requests = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws IOException {
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(dir.resolve("qmp.sock")));
        serving = new Thread(this::serve, "fake-qmp");
        serving.setDaemon(true);
        serving.start();
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        serving.join(2000);
    }

    private void serve() {
        try (SocketChannel client = server.accept()) {
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                    StandardCharsets.UTF_8));
            OutputStream out = Channels.newOutputStream(client);
            send(out, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 2, \"major\": 7}}, "
                    + "\"capabilities\": []}}");
            for (String line; (line = in.readLine()) != null;) {
                JsonNode request = JSON.readTree(line);
                requests.add(request);
                String id = JSON.writeValueAsString(request.get("id"));
                switch (request.path("execute").asText()) {
                    case "stop" -> {
                        send(out, "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}, \"event\": \"STOP\"}");
                        send(out, "{\"return\": {}, \"id\": " + id + "}");
                    }
                    case "query-status" -> send(out, "{\"return\": {\"status\": \"paused\", \"running\": false}, "
                            + "\"id\": " + id + "}");
                    case "quit" -> {
                        send(out, "{\"return\": {}, \"id\": " + id + "}");
                        return;
                    }
                    case "qmp_capabilities" -> send(out, "{\"return\": {}, \"id\": " + id + "}");
                    default -> send(out, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
                            + request.path("execute").asText() + " has not been found\"}, \"id\": " + id + "}");
                }
            }
        } catch (IOException e) {
            // the test closed the server
        }
    }

    private static void send(OutputStream out, String line) throws IOException {
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
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
            assertEquals("qmp_capabilities", requests.get(0).path("execute").asText(), "capabilities first");
            assertEquals(3, requests.stream().map(r -> r.path("id").asText()).distinct().count(),
                    "every request has an id of its own: " + requests);
        }
    }

    @Test
    void anErrorCarriesQemusClassAndTheConnectionStays() throws Exception {
        try (QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofSeconds(5))) {
            QmpException e = assertThrows(QmpException.class,
                    () -> qmp.execute("xen-save-devices-state", QmpClient.arguments().put("filename", "/x")));
            assertEquals("CommandNotFound", e.errorClass());
            assertTrue(e.getMessage().contains("xen-save-devices-state"), e.getMessage());
            assertEquals("/x", requests.get(1).path("arguments").path("filename").asText());
            assertTrue(qmp.isOpen());
        }
    }

    @Test
    void aServerThatGoesAwayFailsTheNextCommand() throws Exception {
        try (QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofSeconds(5))) {
            qmp.execute("quit", null);
            await().atMost(5, TimeUnit.SECONDS).until(() -> !qmp.isOpen());
            QmpException e = assertThrows(QmpException.class, () -> qmp.execute("query-status", null));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
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
}
