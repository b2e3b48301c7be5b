package io.romulus.xen.internal;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.romulus.xen.internal.dm.DeviceModel;

/** A device model that records what the binding asks of it and saves a small recognisable state. */
final class RecordingDeviceModel implements DeviceModel {

    final List<String> calls = new CopyOnWriteArrayList<>();
    private int saves;

    @Override
    public void stop() {
        calls.add("stop");
    }

    @Override
    public byte[] saveState() {
        calls.add("save");
        return ("QEVM state " +  ++saves).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    @Override
    public void setGlobalDirtyLog(boolean enable) {
        calls.add("dirty-log " + enable);
    }

    @Override
    public void cont() {
        calls.add("cont");
    }

    @Override
    public void close() {
        calls.add("close");
    }
}
