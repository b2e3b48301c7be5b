package io.romulus.xen.internal.dm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.support.qmp.QmpClient;
import io.romulus.support.qmp.QmpException;

/**
 * The QEMU device model of an HVM domain, over the QMP socket libxl gives it ({@code /var/run/xen/qmp-libxl-DOMID}),
 * through the support library's {@link QmpClient}. That socket takes one client at a time and libxl connects to it for
 * its own operations, so the connection is held only from {@link #stop()} to {@link #cont()}, the few milliseconds of a
 * checkpoint's pause. Synchronous: the epoch thread is the only caller.
 */
public final class QmpDeviceModel implements DeviceModel {

    /** How long a command may take, and connecting to a socket that exists. */
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    private final Path socket;
    private final Path stateFile;
    private QmpClient qmp;

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
        if (qmp == null) {
            connect();
        }
        execute("stop", null);
    }

    @Override
    public byte[] saveState() throws HypervisorException {
        execute("xen-save-devices-state", QmpClient.arguments().put("filename", stateFile.toString())
                .put("live", false));
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
        boolean held = qmp != null;
        if (!held) {
            connect();
        }
        try {
            execute("xen-set-global-dirty-log", QmpClient.arguments().put("enable", enable));
        } finally {
            if (!held) {
                close();
            }
        }
    }

    @Override
    public void cont() throws HypervisorException {
        try {
            execute("cont", null);
        } finally {
            close();
        }
    }

    private void connect() throws HypervisorException {
        if (!Files.exists(socket)) {
            // libxl creates it with the domain: there is nothing to wait for
            throw new HypervisorException("cannot reach the device model's QMP socket " + socket + ": it does not "
                    + "exist");
        }
        try {
            qmp = QmpClient.connect(socket, TIMEOUT);
        } catch (IOException e) {
            throw new HypervisorException("cannot reach the device model's QMP socket " + socket + ": "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HypervisorException("interrupted while connecting to the device model's QMP socket " + socket,
                    e);
        }
    }

    private void execute(String command, ObjectNode arguments) throws HypervisorException {
        if (qmp == null) {
            throw new HypervisorException("the device model is not stopped: no QMP connection to " + socket);
        }
        try {
            qmp.execute(command, arguments);
        } catch (QmpException e) {
            if (e.errorClass() != null) {
                throw new HypervisorException("the device model refused " + command + ": " + e.getMessage(), e);
            }
            close();
            throw new HypervisorException("QMP " + socket + " failed during " + command + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new HypervisorException("interrupted during " + command + " on QMP " + socket, e);
        }
    }

    @Override
    public void close() {
        if (qmp != null) {
            qmp.close();
            qmp = null;
        }
    }
}
