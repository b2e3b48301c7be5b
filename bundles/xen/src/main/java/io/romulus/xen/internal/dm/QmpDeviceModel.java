package io.romulus.xen.internal.dm;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.HypervisorException;

/**
 * The QEMU device model of an HVM domain, over the QMP socket libxl gives it ({@code /var/run/xen/qmp-libxl-DOMID}).
 * That socket takes one client at a time and libxl connects to it for its own operations, so the connection is held
 * only from {@link #stop()} to {@link #cont()}, the few milliseconds of a checkpoint's pause. Synchronous: the epoch
 * thread is the only caller.
 */
public final class QmpDeviceModel implements DeviceModel {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path socket;
    private final Path stateFile;
    private SocketChannel channel;
    private BufferedReader in;
    private OutputStream out;

    /**
     * @param socket    the QMP socket
     * @param stateFile where QEMU writes its state; QEMU runs in dom0 as root, so any dom0 path it can write
     */
    public QmpDeviceModel(Path socket, Path stateFile) {
        this.socket = socket;
        this.stateFile = stateFile;
    }

    @Override
    public void stop() throws HypervisorException {
        if (channel == null) {
            connect();
        }
        execute("{\"execute\":\"stop\"}");
    }

    @Override
    public byte[] saveState() throws HypervisorException {
        ObjectNode cmd = JSON.createObjectNode().put("execute", "xen-save-devices-state");
        cmd.putObject("arguments").put("filename", stateFile.toString()).put("live", false);
        execute(cmd.toString());
        try {
            return Files.readAllBytes(stateFile);
        } catch (IOException e) {
            throw new HypervisorException("the device model saved no state to " + stateFile + ": " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(stateFile);
            } catch (IOException e) {
                // the next save overwrites it
            }
        }
    }

    @Override
    public void setGlobalDirtyLog(boolean enable) throws HypervisorException {
        boolean held = channel != null;
        if (!held) {
            connect();
        }
        try {
            execute("{\"execute\":\"xen-set-global-dirty-log\",\"arguments\":{\"enable\":" + enable + "}}");
        } finally {
            if (!held) {
                close();
            }
        }
    }

    @Override
    public void cont() throws HypervisorException {
        try {
            execute("{\"execute\":\"cont\"}");
        } finally {
            close();
        }
    }

    private void connect() throws HypervisorException {
        try {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(socket));
            channel = ch;
            in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            out = Channels.newOutputStream(ch);
            JsonNode greeting = read();
            if (!greeting.has("QMP")) {
                throw new HypervisorException("not a QMP greeting on " + socket + ": " + greeting);
            }
            execute("{\"execute\":\"qmp_capabilities\"}");
        } catch (IOException e) {
            close();
            throw new HypervisorException("cannot reach the device model's QMP socket " + socket + ": "
                    + e.getMessage(), e);
        }
    }

    private JsonNode execute(String command) throws HypervisorException {
        if (channel == null) {
            throw new HypervisorException("the device model is not stopped: no QMP connection to " + socket);
        }
        try {
            out.write((command + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                JsonNode answer = read();
                if (answer.has("return")) {
                    return answer.get("return");
                }
                if (answer.has("error")) {
                    throw new HypervisorException("the device model refused " + command + ": "
                            + answer.get("error").path("desc").asText(answer.toString()));
                }
                // an asynchronous event (STOP, RESUME): not an answer
            }
        } catch (IOException e) {
            close();
            throw new HypervisorException("QMP " + socket + " failed during " + command + ": " + e.getMessage(), e);
        }
    }

    private JsonNode read() throws IOException {
        String line = in.readLine();
        if (line == null) {
            throw new IOException("the device model closed its QMP socket");
        }
        return JSON.readTree(line);
    }

    @Override
    public void close() {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                // closing anyway
            }
            channel = null;
            in = null;
            out = null;
        }
    }
}
