package io.romulus.xen.internal.dm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.node.ObjectNode;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.support.qmp.FakeQmpServer;

/** The device model's QMP exchange against a scripted QMP server on a unix socket (QEMU's answers, one per line). */
class QmpDeviceModelTest {

    @TempDir
    Path tmp;
    private FakeQmpServer server;
    private volatile boolean refuseSave;

    @BeforeEach
    void start() throws IOException {
        server = FakeQmpServer.start(tmp.resolve("qmp"), this::answer);
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    /** As QEMU answers: the saved state lands in the file named, a stop is followed by its event. */
    private List<String> answer(ObjectNode command, String id) throws IOException {
        return switch (command.path("execute").asText()) {
            case "xen-save-devices-state" -> save(id);
            case "stop" -> List.of(FakeQmpServer.event("STOP", 1, 2), FakeQmpServer.ok(id));
            default -> List.of(FakeQmpServer.ok(id));
        };
    }

    private List<String> save(String id) throws IOException {
        if (refuseSave) {
            return List.of(FakeQmpServer.error(id, "GenericError", "no space left"));
        }
        Files.write(tmp.resolve("dm-state"), new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 3});
        return List.of(FakeQmpServer.ok(id));
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
        assertEquals(List.of(1, 2), server.connections());
        List<String> commands = server.commands();
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
                "{\"execute\":\"xen-set-global-dirty-log\",\"arguments\":{\"enable\":true}}"), server.commands());
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
