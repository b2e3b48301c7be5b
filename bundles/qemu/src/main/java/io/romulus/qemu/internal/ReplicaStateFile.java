package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ReplicaSpec;

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

    void write(Path dir) throws IOException {
        ObjectNode o = GuestStateFile.newJson();
        o.put("id", spec.id().toString());
        o.put("memoryBytes", spec.memoryBytes());
        o.put("pageSize", spec.pageSize());
        ObjectNode opts = o.putObject("options");
        spec.options().forEach(opts::put);
        o.put("committedEpoch", committedEpoch);
        GuestStateFile.writeJson(dir.resolve(NAME), o);
    }

    static ReplicaStateFile read(Path dir) throws IOException {
        JsonNode o = GuestStateFile.readJson(dir.resolve(NAME));
        Map<String, String> options = new LinkedHashMap<>();
        o.path("options").properties().forEach(e -> options.put(e.getKey(), e.getValue().asText()));
        try {
            return new ReplicaStateFile(new ReplicaSpec(DomainId.parse(GuestStateFile.text(o, "id")),
                    o.path("memoryBytes").asLong(), o.path("pageSize").asInt(), options),
                    o.path("committedEpoch").asLong(-1));
        } catch (IllegalArgumentException e) {
            throw new IOException(dir.resolve(NAME) + ": " + e.getMessage(), e);
        }
    }
}
