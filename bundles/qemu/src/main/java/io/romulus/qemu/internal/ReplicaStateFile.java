package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.support.state.StateFile;

/**
 * A replica handed over to the next version of the binding, written to {@value #NAME} in the replica's directory
 * (next to its {@code ram} file and the committed device state, {@value #DEVICE_STATE}) when the binding stops. The
 * next version {@linkplain QemuHypervisor#adoptReplica adopts} the replica at that epoch and removes the file: a
 * replica that went on applying epochs is never taken for the one the file describes.
 *
 * @param spec           what the replica is a copy of
 * @param committedEpoch the last epoch applied, or {@code -1}
 */
record ReplicaStateFile(ReplicaSpec spec, long committedEpoch) {

    static final String NAME = "replica.json";
    /** The committed device state, next to the state file; also what an activation loads. */
    static final String DEVICE_STATE = "device-state.committed";
    /** Format 2, as the binding wrote it before it went through the support library: the files stay readable. */
    private static final StateFile FILE = new StateFile("QEMU replica state file", 2);

    void write(Path dir) throws IOException {
        ObjectNode o = FILE.create();
        o.put("id", spec.id().toString());
        o.put("memoryBytes", spec.memoryBytes());
        o.put("pageSize", spec.pageSize());
        ObjectNode opts = o.putObject("options");
        spec.options().forEach(opts::put);
        o.put("committedEpoch", committedEpoch);
        FILE.write(dir.resolve(NAME), o);
    }

    static ReplicaStateFile read(Path dir) throws IOException {
        return FILE.read(dir.resolve(NAME), ReplicaStateFile::parse);
    }

    /** A malformed id or spec is an {@link IllegalArgumentException}, which {@link StateFile#read} reports. */
    private static ReplicaStateFile parse(JsonNode o) throws IOException {
        Map<String, String> options = new LinkedHashMap<>();
        o.path("options").properties().forEach(e -> options.put(e.getKey(), e.getValue().asText()));
        return new ReplicaStateFile(new ReplicaSpec(DomainId.parse(StateFile.text(o, "id")),
                o.path("memoryBytes").asLong(), o.path("pageSize").asInt(), options),
                o.path("committedEpoch").asLong(-1));
    }
}
