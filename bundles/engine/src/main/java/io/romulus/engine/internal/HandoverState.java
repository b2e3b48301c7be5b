package io.romulus.engine.internal;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Properties;
import java.util.TreeMap;

import io.romulus.api.hypervisor.DomainId;

/**
 * What one engine hands to its next version when its bundle is updated (ARCHITECTURE.md section 8): plain data in a
 * properties file in the bundle's data area, which an update keeps. Protections: where the backup is, the lineage,
 * the epoch counters and the pages of every checkpoint not acknowledged; replicas: the lineage and committed epoch.
 * The live objects (domains, replicas, output holds) stay with their bindings and providers, which the next engine
 * asks to adopt them.
 */
record HandoverState(List<PrimaryProtection.HandedOver> primaries, List<BackupReplica.HandedOver> backups) {

    /** Written by this version; a file of another version is not read. */
    static final String FORMAT = "1";

    static void write(Path file, List<PrimaryProtection.HandedOver> primaries, List<BackupReplica.HandedOver> backups)
            throws IOException {
        Properties p = new Properties();
        p.setProperty("format", FORMAT);
        p.setProperty("primaries", Integer.toString(primaries.size()));
        for (int i = 0; i < primaries.size(); i++) {
            PrimaryProtection.HandedOver h = primaries.get(i);
            String k = "primary." + i + ".";
            p.setProperty(k + "domain", h.id().toString());
            p.setProperty(k + "peer", h.peer().getHostString() + ":" + h.peer().getPort());
            p.setProperty(k + "heartbeat", h.heartbeat().getHostString() + ":" + h.heartbeat().getPort());
            p.setProperty(k + "interval", Integer.toString(h.intervalMs()));
            putOptions(p, k + "option.", h.options());
            p.setProperty(k + "verify", Boolean.toString(h.verify()));
            p.setProperty(k + "lineage", h.lineage());
            p.setProperty(k + "nextEpoch", Long.toString(h.nextEpoch()));
            p.setProperty(k + "lastAcked", Long.toString(h.lastAcked()));
            p.setProperty(k + "lastCheckpointed", Long.toString(h.lastCheckpointed()));
            p.setProperty(k + "resumable", Boolean.toString(h.resumable()));
            p.setProperty(k + "passing", Boolean.toString(h.passing()));
            p.setProperty(k + "takenOver", Boolean.toString(h.takenOver()));
            for (Map.Entry<Long, long[]> e : h.unackedPages().entrySet()) {
                p.setProperty(k + "unacked." + e.getKey(), encode(e.getValue()));
            }
        }
        p.setProperty("backups", Integer.toString(backups.size()));
        for (int i = 0; i < backups.size(); i++) {
            BackupReplica.HandedOver h = backups.get(i);
            String k = "backup." + i + ".";
            p.setProperty(k + "domain", h.id().toString());
            p.setProperty(k + "lineage", h.lineage());
            p.setProperty(k + "committedEpoch", Long.toString(h.committedEpoch()));
            p.setProperty(k + "primaryNode", h.primaryNode());
            putOptions(p, k + "option.", h.options());
            if (h.returnAddress() != null) {
                p.setProperty(k + "returnAddress", h.returnAddress());
            }
            p.setProperty(k + "memoryBytes", Long.toString(h.memoryBytes()));
            p.setProperty(k + "pageSize", Integer.toString(h.pageSize()));
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            p.store(w, "Romulus engine hand-over state: read once by the next engine version, then deleted");
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The state in {@code file}, or null when there is none. */
    static HandoverState read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        }
        if (!FORMAT.equals(p.getProperty("format"))) {
            throw new IOException("hand-over state of format " + p.getProperty("format") + ", this engine reads "
                    + FORMAT);
        }
        List<PrimaryProtection.HandedOver> primaries = new ArrayList<>();
        int n = Integer.parseInt(required(p, "primaries"));
        for (int i = 0; i < n; i++) {
            String k = "primary." + i + ".";
            NavigableMap<Long, long[]> unacked = new TreeMap<>();
            String prefix = k + "unacked.";
            for (String name : p.stringPropertyNames()) {
                if (name.startsWith(prefix)) {
                    unacked.put(Long.parseLong(name.substring(prefix.length())), decode(p.getProperty(name)));
                }
            }
            primaries.add(new PrimaryProtection.HandedOver(DomainId.parse(required(p, k + "domain")),
                    address(required(p, k + "peer")), address(required(p, k + "heartbeat")),
                    Integer.parseInt(required(p, k + "interval")), options(p, k + "option."),
                    Boolean.parseBoolean(required(p, k + "verify")), required(p, k + "lineage"),
                    Long.parseLong(required(p, k + "nextEpoch")), Long.parseLong(required(p, k + "lastAcked")),
                    Long.parseLong(required(p, k + "lastCheckpointed")),
                    Boolean.parseBoolean(required(p, k + "resumable")),
                    Boolean.parseBoolean(required(p, k + "passing")),
                    Boolean.parseBoolean(required(p, k + "takenOver")), unacked));
        }
        List<BackupReplica.HandedOver> backups = new ArrayList<>();
        int m = Integer.parseInt(required(p, "backups"));
        for (int i = 0; i < m; i++) {
            String k = "backup." + i + ".";
            backups.add(new BackupReplica.HandedOver(DomainId.parse(required(p, k + "domain")),
                    required(p, k + "lineage"), Long.parseLong(required(p, k + "committedEpoch")),
                    required(p, k + "primaryNode"), options(p, k + "option."), p.getProperty(k + "returnAddress"),
                    Long.parseLong(required(p, k + "memoryBytes")), Integer.parseInt(required(p, k + "pageSize"))));
        }
        return new HandoverState(primaries, backups);
    }

    private static String required(Properties p, String key) throws IOException {
        String v = p.getProperty(key);
        if (v == null) {
            throw new IOException("hand-over state without " + key);
        }
        return v;
    }

    private static void putOptions(Properties p, String prefix, Map<String, String> options) {
        options.forEach((key, value) -> p.setProperty(prefix + key, value));
    }

    private static Map<String, String> options(Properties p, String prefix) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String name : new java.util.TreeSet<>(p.stringPropertyNames())) {
            if (name.startsWith(prefix)) {
                out.put(name.substring(prefix.length()), p.getProperty(name));
            }
        }
        return out;
    }

    private static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        return InetSocketAddress.createUnresolved(hostPort.substring(0, colon),
                Integer.parseInt(hostPort.substring(colon + 1)));
    }

    static String encode(long[] pfns) {
        ByteBuffer b = ByteBuffer.allocate(pfns.length * Long.BYTES);
        b.asLongBuffer().put(pfns);
        return Base64.getEncoder().encodeToString(b.array());
    }

    static long[] decode(String text) {
        ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(text));
        long[] out = new long[b.remaining() / Long.BYTES];
        b.asLongBuffer().get(out);
        return out;
    }
}
