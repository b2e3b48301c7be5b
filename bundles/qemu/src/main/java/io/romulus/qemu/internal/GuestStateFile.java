package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.GuestDisk;

/**
 * What one version of the binding knew of a running guest, written to {@value #NAME} in the guest's directory (next to
 * {@code ram}, {@code qmp.sock}, {@code qemu.pid}) so that the next version, after a bundle update, finds the guest
 * again: nothing in memory survives an update, only files and kernel state.
 *
 * @param name         the guest's name ({@code NAME} of {@code qemu:NAME})
 * @param options      the guest's options, complete ({@link GuestOptions#toMap()})
 * @param memoryBytes  guest RAM
 * @param pageSize     guest page size
 * @param tap          the host side of the guest's NIC, or {@code null} for none
 * @param accel        how QEMU runs it ({@link QemuSettings#accel()})
 * @param netns        the network namespace of its tap, or empty
 * @param bridge       the bridge its tap joined, or empty
 * @param dirtyTracker how its written pages are tracked on this host ({@code uffd} or {@code compare})
 * @param disk         its disk (an NBD export of this node), or {@code null}
 * @param held         whether a protection held the guest (open or detached) when the binding stopped: only such a
 *                     guest is {@linkplain QemuHypervisor#adopt adopted}
 * @param dirtyLog     the dirty log that ran when the binding stopped: {@code uffd} (it goes on in the kernel),
 *                     {@code compare} (it was lost with the binding's memory) or {@code none}
 */
record GuestStateFile(String name, Map<String, String> options, long memoryBytes, int pageSize, String tap,
        String accel, String netns, String bridge, String dirtyTracker, GuestDisk disk, boolean held,
        String dirtyLog) {

    static final String NAME = "guest.json";
    private static final int FORMAT = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    GuestStateFile {
        options = Map.copyOf(options);
    }

    /** What the binding knows of {@code g} right after starting it: not held, no dirty log. */
    static GuestStateFile of(QemuGuest g) {
        QemuSettings s = g.settings();
        return new GuestStateFile(g.id().name(), g.options().toMap(), g.options().memoryBytes(), QemuDomain.PAGE_SIZE,
                g.process().tap(), s.accel(), s.netns(), g.options().bridgeOn(s), s.dirtyTracker(), g.disk(), false, "none");
    }

    GuestStateFile held(String log) {
        return new GuestStateFile(name, options, memoryBytes, pageSize, tap, accel, netns, bridge, dirtyTracker, disk,
                true, log);
    }

    GuestStateFile released() {
        return new GuestStateFile(name, options, memoryBytes, pageSize, tap, accel, netns, bridge, dirtyTracker, disk,
                false, "none");
    }

    /** Writes the file into {@code dir}, replacing the previous one in one step. */
    void write(Path dir) throws IOException {
        ObjectNode o = newJson();
        o.put("name", name);
        ObjectNode opts = o.putObject("options");
        options.forEach(opts::put);
        o.put("memoryBytes", memoryBytes);
        o.put("pageSize", pageSize);
        if (tap != null) {
            o.put("tap", tap);
        }
        o.put("accel", accel);
        o.put("netns", netns);
        o.put("bridge", bridge);
        o.put("dirtyTracker", dirtyTracker);
        if (disk != null) {
            o.putObject("disk").put("name", disk.name()).put("kind", disk.kind()).put("source", disk.source())
                    .put("sizeBytes", disk.sizeBytes());
        }
        o.put("held", held);
        o.put("dirtyLog", dirtyLog);
        writeJson(dir.resolve(NAME), o);
    }

    static GuestStateFile read(Path dir) throws IOException {
        JsonNode o = readJson(dir.resolve(NAME));
        Map<String, String> options = new LinkedHashMap<>();
        o.path("options").properties().forEach(e -> options.put(e.getKey(), e.getValue().asText()));
        JsonNode d = o.path("disk");
        GuestDisk disk = d.isObject() ? new GuestDisk(text(d, "name"), text(d, "kind"), text(d, "source"),
                d.path("sizeBytes").asLong()) : null;
        return new GuestStateFile(text(o, "name"), options, o.path("memoryBytes").asLong(), o.path("pageSize").asInt(),
                o.hasNonNull("tap") ? o.get("tap").asText() : null, text(o, "accel"), o.path("netns").asText(""),
                o.path("bridge").asText(""), text(o, "dirtyTracker"), disk, o.path("held").asBoolean(),
                o.path("dirtyLog").asText("none"));
    }

    /** Reads a state file of this binding: JSON of a format it knows. */
    static JsonNode readJson(Path file) throws IOException {
        JsonNode o = JSON.readTree(file.toFile());
        if (o == null || !o.isObject() || o.path("format").asInt() != FORMAT) {
            throw new IOException(file + " is not a state file of format " + FORMAT);
        }
        return o;
    }

    static String text(JsonNode o, String field) throws IOException {
        JsonNode v = o.get(field);
        if (v == null || !v.isTextual()) {
            throw new IOException("the state file has no " + field);
        }
        return v.asText();
    }

    static ObjectNode newJson() {
        return JSON.createObjectNode().put("format", FORMAT);
    }

    static void writeJson(Path file, JsonNode o) throws IOException {
        writeAtomically(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o));
    }

    static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, bytes);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
