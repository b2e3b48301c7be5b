package io.romulus.xen.internal;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Properties;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ReplicaSpec;

/**
 * What a detached domain or replica leaves on disk, so that a later revision of the binding (after an update of the
 * xen bundle) can adopt it: everything else it needs is in Xen (the domain, its log-dirty bitmap) or in the replica
 * image. A record is written when a handle is detached and removed when it is adopted, opened or created anew.
 */
final class HandOver {

    private static final int REPLICA_MAGIC = 0x524d5852; // "RMXR"
    private static final int REPLICA_VERSION = 1;

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
            Properties p = new Properties();
            p.setProperty("domain", name);
            p.setProperty("domid", Integer.toString(domid));
            p.setProperty("uuid", uuid);
            p.setProperty("pfn-space", Long.toString(pfnSpace));
            p.setProperty("ranges", String.join(",", Arrays.stream(ranges).mapToObj(Long::toString).toList()));
            StringWriter text = new StringWriter();
            p.store(text, "Romulus xen binding: a protected domain detached with log-dirty mode on, for adoption");
            writeAtomically(file, text.toString().getBytes(StandardCharsets.ISO_8859_1));
        }

        /** The record in {@code file}, or {@code null} when there is none. */
        static DomainRecord read(Path file) throws IOException {
            byte[] bytes = readOrNull(file);
            if (bytes == null) {
                return null;
            }
            Properties p = new Properties();
            p.load(new StringReader(new String(bytes, StandardCharsets.ISO_8859_1)));
            try {
                String[] parts = p.getProperty("ranges", "").split(",");
                long[] ranges = new long[parts.length];
                for (int i = 0; i < parts.length; i++) {
                    ranges[i] = Long.parseLong(parts[i].trim());
                }
                return new DomainRecord(p.getProperty("domain"), Integer.parseInt(p.getProperty("domid")),
                        p.getProperty("uuid", ""), Long.parseLong(p.getProperty("pfn-space")), ranges);
            } catch (RuntimeException e) {
                throw new IOException(file + " is not a hand-over record: " + e.getMessage(), e);
            }
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
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                out.writeInt(REPLICA_MAGIC);
                out.writeInt(REPLICA_VERSION);
                out.writeUTF(spec.id().toString());
                out.writeLong(spec.memoryBytes());
                out.writeInt(spec.pageSize());
                out.writeLong(committed);
                out.writeInt(deviceState.length);
                out.write(deviceState);
            }
            writeAtomically(file, bytes.toByteArray());
        }

        /** The record in {@code file}, or {@code null} when there is none. */
        static ReplicaRecord read(Path file) throws IOException {
            byte[] bytes = readOrNull(file);
            if (bytes == null) {
                return null;
            }
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
                if (in.readInt() != REPLICA_MAGIC || in.readInt() != REPLICA_VERSION) {
                    throw new IOException(file + " is not a replica record of this binding's version");
                }
                DomainId id = DomainId.parse(in.readUTF());
                ReplicaSpec spec = new ReplicaSpec(id, in.readLong(), in.readInt(), Map.of());
                long committed = in.readLong();
                byte[] state = new byte[in.readInt()];
                in.readFully(state);
                return new ReplicaRecord(spec, committed, state);
            } catch (RuntimeException e) {
                throw new IOException(file + " is not a replica record: " + e.getMessage(), e);
            }
        }
    }

    private static byte[] readOrNull(Path file) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, bytes);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
