package io.romulus.xen.internal.dm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.hypervisor.HypervisorException;

/** The device model's QMP exchange against a scripted QMP server on a unix socket (QEMU's answers, one per line). */
class QmpDeviceModelTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private ServerSocketChannel server;
    private Thread serving;
    private final List<String> commands = new CopyOnWriteArrayList<>();
    private final List<Integer> connections = new CopyOnWriteArrayList<>();
    private volatile boolean refuseSave;

    @BeforeEach
    void start() throws IOException {
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(tmp.resolve("qmp")));
        serving = new Thread(this::serve, "fake-qmp");
        serving.setDaemon(true);
        serving.start();
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        serving.join(2000);
    }

    /** One client at a time, like QEMU's chardev server. */
    private void serve() {
        int n = 0;
        while (server.isOpen()) {
            try (SocketChannel client = server.accept()) {
                connections.add(++n);
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                        StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(client);
                send(out, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": []}}");
                for (String line; (line = in.readLine()) != null;) {
                    // as QEMU does, the answer carries the command's id; the commands are kept without it
                    ObjectNode command = (ObjectNode) JSON.readTree(line);
                    String id = JSON.writeValueAsString(command.remove("id"));
                    commands.add(JSON.writeValueAsString(command));
                    if (line.contains("xen-save-devices-state")) {
                        if (refuseSave) {
                            send(out, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no space left\"}, "
                                    + "\"id\": " + id + "}");
                            continue;
                        }
                        Files.write(tmp.resolve("dm-state"), new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 3});
                    }
                    if (line.contains("\"stop\"")) {
                        send(out, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}");
                    }
                    send(out, "{\"return\": {}, \"id\": " + id + "}");
                }
            } catch (IOException e) {
                return;
            }
        }
    }

    private static void send(OutputStream out, String line) throws IOException {
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Test
    void aCheckpointIsStopSaveContOnOneConnection() throws Exception {
        try (QmpDeviceModel dm = new QmpDeviceModel(tmp.resolve("qmp"), tmp.resolve("dm-state"))) {
            dm.stop();
            byte[] state = dm.saveState();
            dm.cont();
            assertArrayEquals(new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 3}, state);
            assertFalse(Files.exists(tmp.resolve("dm-state")), "the state file is removed once read");
            // the second checkpoint connects again: the socket is libxl's between checkpoints
            dm.stop();
            dm.saveState();
            dm.cont();
        }
        assertEquals(List.of(1, 2), connections);
        assertEquals(8, commands.size(), commands.toString());
        assertTrue(commands.get(0).contains("qmp_capabilities"));
        assertTrue(commands.get(1).contains("\"stop\""));
        assertTrue(commands.get(2).contains("\"xen-save-devices-state\"") && commands.get(2).contains("\"live\":false")
                && commands.get(2).contains(tmp.resolve("dm-state").toString()), commands.get(2));
        assertTrue(commands.get(3).contains("\"cont\""));
    }

    @Test
    void globalDirtyLogIsOneShortConnection() throws Exception {
        try (QmpDeviceModel dm = new QmpDeviceModel(tmp.resolve("qmp"), tmp.resolve("dm-state"))) {
            dm.setGlobalDirtyLog(true);
        }
        assertEquals(List.of("{\"execute\":\"qmp_capabilities\"}",
                "{\"execute\":\"xen-set-global-dirty-log\",\"arguments\":{\"enable\":true}}"), commands);
    }

    @Test
    void aRefusalCarriesQemusReason() throws Exception {
        refuseSave = true;
        try (QmpDeviceModel dm = new QmpDeviceModel(tmp.resolve("qmp"), tmp.resolve("dm-state"))) {
            dm.stop();
            HypervisorException e = assertThrows(HypervisorException.class, dm::saveState);
            assertTrue(e.getMessage().contains("no space left"), e.getMessage());
        }
    }

    @Test
    void aMissingSocketIsNamed() {
        QmpDeviceModel dm = new QmpDeviceModel(tmp.resolve("nowhere"), tmp.resolve("dm-state"));
        HypervisorException e = assertThrows(HypervisorException.class, dm::stop);
        assertTrue(e.getMessage().contains(tmp.resolve("nowhere").toString()), e.getMessage());
    }
}
