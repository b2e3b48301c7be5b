package io.romulus.engine.internal;

import java.io.IOException;
import java.io.Reader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Properties;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.support.state.StateFile;

/**
 * What one engine hands to its next version when its bundle is updated (ARCHITECTURE.md section 8): plain data in a
 * JSON state file in the bundle's data area, which an update keeps. Protections: where the backup is, the lineage,
 * the epoch counters and the pages of every checkpoint not acknowledged; replicas: the lineage and committed epoch.
 * The live objects (domains, replicas, output holds) stay with their bindings and providers, which the next engine
 * asks to adopt them.
 *
 * <p>Engines before format 2 wrote a properties file ({@value EngineComponent#LEGACY_HANDOVER_FILE}); it is still
 * read, once, so that the update to this version resumes the protections too.
 */
record HandoverState(List<PrimaryProtection.HandedOver> primaries, List<BackupReplica.HandedOver> backups) {

    /** Written and read by this version; format 1 was the properties file. */
    static final StateFile FILE = new StateFile("engine hand-over state", 2);
    /** The format of the properties file of earlier engines. */
    static final String LEGACY_FORMAT = "1";

    static void write(Path file, List<PrimaryProtection.HandedOver> primaries, List<BackupReplica.HandedOver> backups)
            throws IOException {
        ObjectNode state = FILE.create();
        ArrayNode ps = state.putArray("primaries");
        for (PrimaryProtection.HandedOver h : primaries) {
            ObjectNode p = ps.addObject();
            p.put("domain", h.id().toString());
            p.put("peer", h.peer().getHostString() + ":" + h.peer().getPort());
            p.put("heartbeat", h.heartbeat().getHostString() + ":" + h.heartbeat().getPort());
            p.put("interval", h.intervalMs());
            putOptions(p, h.options());
            p.put("verify", h.verify());
            p.put("lineage", h.lineage());
            p.put("nextEpoch", h.nextEpoch());
            p.put("lastAcked", h.lastAcked());
            p.put("lastCheckpointed", h.lastCheckpointed());
            p.put("resumable", h.resumable());
            p.put("passing", h.passing());
            p.put("takenOver", h.takenOver());
            ObjectNode unacked = p.putObject("unacked");
            h.unackedPages().forEach((epoch, pfns) -> unacked.put(Long.toString(epoch), encode(pfns)));
        }
        ArrayNode bs = state.putArray("backups");
        for (BackupReplica.HandedOver h : backups) {
            ObjectNode b = bs.addObject();
            b.put("domain", h.id().toString());
            b.put("lineage", h.lineage());
            b.put("committedEpoch", h.committedEpoch());
            b.put("primaryNode", h.primaryNode());
            putOptions(b, h.options());
            if (h.returnAddress() != null) {
                b.put("returnAddress", h.returnAddress());
            }
            b.put("memoryBytes", h.memoryBytes());
            b.put("pageSize", h.pageSize());
        }
        FILE.write(file, state);
    }

    /** The state in {@code file} (JSON, or the properties file of an earlier engine), or null when there is none. */
    static HandoverState read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        if (isLegacy(file)) {
            return readLegacy(file);
        }
        return FILE.read(file, HandoverState::parse);
    }

    private static HandoverState parse(JsonNode state) throws IOException {
        List<PrimaryProtection.HandedOver> primaries = new ArrayList<>();
        for (JsonNode p : array(state, "primaries")) {
            NavigableMap<Long, long[]> unacked = new TreeMap<>();
            for (Map.Entry<String, JsonNode> e : p.path("unacked").properties()) {
                unacked.put(Long.parseLong(e.getKey()), decode(e.getValue().asText()));
            }
            primaries.add(new PrimaryProtection.HandedOver(DomainId.parse(StateFile.text(p, "domain")),
                    address(StateFile.text(p, "peer")), address(StateFile.text(p, "heartbeat")),
                    Math.toIntExact(StateFile.number(p, "interval")), options(p), StateFile.flag(p, "verify"),
                    StateFile.text(p, "lineage"), StateFile.number(p, "nextEpoch"), StateFile.number(p, "lastAcked"),
                    StateFile.number(p, "lastCheckpointed"), StateFile.flag(p, "resumable"),
                    StateFile.flag(p, "passing"), StateFile.flag(p, "takenOver"), unacked));
        }
        List<BackupReplica.HandedOver> backups = new ArrayList<>();
        for (JsonNode b : array(state, "backups")) {
            backups.add(new BackupReplica.HandedOver(DomainId.parse(StateFile.text(b, "domain")),
                    StateFile.text(b, "lineage"), StateFile.number(b, "committedEpoch"),
                    StateFile.text(b, "primaryNode"), options(b),
                    b.has("returnAddress") ? StateFile.text(b, "returnAddress") : null,
                    StateFile.number(b, "memoryBytes"), Math.toIntExact(StateFile.number(b, "pageSize"))));
        }
        return new HandoverState(primaries, backups);
    }

    private static JsonNode array(JsonNode state, String field) throws IOException {
        JsonNode a = state.get(field);
        if (a == null || !a.isArray()) {
            throw new IOException("it has no list " + field);
        }
        return a;
    }

    private static void putOptions(ObjectNode o, Map<String, String> options) {
        ObjectNode opts = o.putObject("options");
        options.forEach(opts::put);
    }

    private static Map<String, String> options(JsonNode o) {
        Map<String, String> out = new LinkedHashMap<>();
        o.path("options").properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }

    /** Whether {@code file} is the properties file of an earlier engine rather than JSON. */
    private static boolean isLegacy(Path file) throws IOException {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (int c = r.read(); c >= 0; c = r.read()) {
                if (!Character.isWhitespace(c)) {
                    return c != '{';
                }
            }
        }
        return false;
    }

    /** The properties file an engine before format 2 wrote. */
    private static HandoverState readLegacy(Path file) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        }
        if (!LEGACY_FORMAT.equals(p.getProperty("format"))) {
            throw new IOException("hand-over state of format " + p.getProperty("format") + ", this engine reads "
                    + LEGACY_FORMAT + " and " + FILE.format());
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
                    Integer.parseInt(required(p, k + "interval")), legacyOptions(p, k + "option."),
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
                    required(p, k + "primaryNode"), legacyOptions(p, k + "option."), p.getProperty(k + "returnAddress"),
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

    private static Map<String, String> legacyOptions(Properties p, String prefix) {
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
