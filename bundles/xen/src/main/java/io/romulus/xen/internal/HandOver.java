package io.romulus.xen.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.support.state.StateFile;

/**
 * What a detached domain or replica leaves on disk, so that a later revision of the binding (after an update of the
 * xen bundle) can adopt it: everything else it needs is in Xen (the domain, its log-dirty bitmap) or in the replica
 * image. A record is written when a handle is detached and removed when it is adopted, opened or created anew. Both
 * records are JSON {@link StateFile}s, written in one step; format 1 was a properties file (domains) and a binary
 * "RMXR" record (replicas), which this revision refuses, so that what a revision before it detached is not adopted.
 */
final class HandOver {

    private static final StateFile DOMAIN = new StateFile("hand-over record of a detached Xen domain", 2);
    private static final StateFile REPLICA = new StateFile("hand-over record of a detached Xen replica", 2);

    private HandOver() {
    }

    /**
     * A detached protected domain.
     *
     * @param name     its libvirt name
     * @param domid    its domid when it was detached: a domain restarted since has another
     * @param uuid     its libvirt UUID
     * @param pfnSpace the pfns its dirty bitmap covers
     * @param ranges   its populated pfns, pairs of start and count: the engine's page numbering, which an adopting
     *                 binding must find unchanged
     */
    record DomainRecord(String name, int domid, String uuid, long pfnSpace, long[] ranges) {

        DomainRecord {
            ranges = ranges.clone();
        }

        @Override
        public long[] ranges() {
            return ranges.clone();
        }

        void write(Path file) throws IOException {
            ObjectNode o = DOMAIN.create().put("domain", name).put("domid", domid).put("uuid", uuid)
                    .put("pfnSpace", pfnSpace);
            ArrayNode r = o.putArray("ranges");
            for (long v : ranges) {
                r.add(v);
            }
            DOMAIN.write(file, o);
        }

        /** The record in {@code file}, or {@code null} when there is none. */
        static DomainRecord read(Path file) throws IOException {
            return DOMAIN.readIfPresent(file, DomainRecord::parse).orElse(null);
        }

        private static DomainRecord parse(JsonNode o) throws IOException {
            JsonNode r = o.get("ranges");
            if (r == null || !r.isArray()) {
                throw new IOException("it has no list ranges");
            }
            long[] ranges = new long[r.size()];
            for (int i = 0; i < ranges.length; i++) {
                if (!r.get(i).canConvertToExactIntegral()) {
                    throw new IOException("ranges[" + i + "] is not a number");
                }
                ranges[i] = r.get(i).asLong();
            }
            return new DomainRecord(StateFile.text(o, "domain"), Math.toIntExact(StateFile.number(o, "domid")),
                    o.path("uuid").asText(""), StateFile.number(o, "pfnSpace"), ranges);
        }
    }

    /**
     * A detached replica: the image next to it holds its pages and device records.
     *
     * @param spec        what it was created for (the xen binding takes no options)
     * @param committed   its last committed epoch
     * @param deviceState the encoded {@link io.romulus.xen.internal.image.XenDeviceState} of that epoch
     */
    record ReplicaRecord(ReplicaSpec spec, long committed, byte[] deviceState) {

        void write(Path file) throws IOException {
            ObjectNode o = REPLICA.create().put("domain", spec.id().toString()).put("memoryBytes", spec.memoryBytes())
                    .put("pageSize", spec.pageSize()).put("committed", committed);
            o.put("deviceState", deviceState);
            REPLICA.write(file, o);
        }

        /** The record in {@code file}, or {@code null} when there is none. */
        static ReplicaRecord read(Path file) throws IOException {
            return REPLICA.readIfPresent(file, ReplicaRecord::parse).orElse(null);
        }

        private static ReplicaRecord parse(JsonNode o) throws IOException {
            ReplicaSpec spec = new ReplicaSpec(DomainId.parse(StateFile.text(o, "domain")),
                    StateFile.number(o, "memoryBytes"), Math.toIntExact(StateFile.number(o, "pageSize")), Map.of());
            return new ReplicaRecord(spec, StateFile.number(o, "committed"), StateFile.bytes(o, "deviceState"));
        }
    }
}
