package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.qemu.internal.vm.VmDefinition;

/**
 * What one version of the binding knew of a running guest, written to {@value #NAME} in the guest's directory (next to
 * {@code ram}, {@code qmp.sock}, {@code qemu.pid}) so that the next version, after a bundle update, finds the guest
 * again: nothing in memory survives an update, only files and kernel state.
 *
 * @param name         the guest's name ({@code NAME} of {@code qemu:NAME})
 * @param options      the guest's definition, its canonical map ({@link VmDefinition#toMap()})
 * @param memoryBytes  guest RAM
 * @param pageSize     guest page size
 * @param taps         the host side of each of the guest's NICs
 * @param accel        how QEMU runs it ({@link QemuSettings#accel()})
 * @param netns        the network namespace of its tap, or empty
 * @param bridge       the host's bridge when it started (the one its NICs without a bridge of their own joined)
 * @param dirtyTracker how its written pages are tracked on this host ({@code uffd} or {@code compare})
 * @param disks        its disks (NBD exports of this node)
 * @param held         whether a protection held the guest (open or detached) when the binding stopped: only such a
 *                     guest is {@linkplain QemuHypervisor#adopt adopted}
 * @param dirtyLog     the dirty log that ran when the binding stopped: {@code uffd} (it goes on in the kernel),
 *                     {@code compare} (it was lost with the binding's memory) or {@code none}
 */
record GuestStateFile(String name, Map<String, String> options, long memoryBytes, int pageSize, List<String> taps,
        String accel, String netns, String bridge, String dirtyTracker, List<GuestDisk> disks, boolean held,
        String dirtyLog) {

    static final String NAME = "guest.json";
    private static final int FORMAT = 2;
    private static final ObjectMapper JSON = new ObjectMapper();

    GuestStateFile {
        options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
        taps = List.copyOf(taps);
        disks = List.copyOf(disks);
    }

    /** What the binding knows of {@code g} right after starting it: not held, no dirty log. */
    static GuestStateFile of(QemuGuest g) {
        QemuSettings s = g.settings();
        return new GuestStateFile(g.id().name(), g.vm().toMap(), g.vm().memoryBytes(), QemuDomain.PAGE_SIZE,
                g.process().taps(), s.accel(), s.netns(), s.bridge(), s.dirtyTracker(), g.disks(), false, "none");
    }

    GuestStateFile held(String log) {
        return new GuestStateFile(name, options, memoryBytes, pageSize, taps, accel, netns, bridge, dirtyTracker, disks,
                true, log);
    }

    GuestStateFile released() {
        return new GuestStateFile(name, options, memoryBytes, pageSize, taps, accel, netns, bridge, dirtyTracker, disks,
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
        taps.forEach(o.putArray("taps")::add);
        o.put("accel", accel);
        o.put("netns", netns);
        o.put("bridge", bridge);
        o.put("dirtyTracker", dirtyTracker);
        ArrayNode ds = o.putArray("disks");
        for (GuestDisk disk : disks) {
            ds.addObject().put("name", disk.name()).put("kind", disk.kind()).put("source", disk.source())
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
        List<GuestDisk> disks = new ArrayList<>();
        for (JsonNode d : o.path("disks")) {
            disks.add(new GuestDisk(text(d, "name"), text(d, "kind"), text(d, "source"), d.path("sizeBytes").asLong()));
        }
        List<String> taps = new ArrayList<>();
        o.path("taps").forEach(t -> taps.add(t.asText()));
        return new GuestStateFile(text(o, "name"), options, o.path("memoryBytes").asLong(), o.path("pageSize").asInt(),
                taps, text(o, "accel"), o.path("netns").asText(""),
                o.path("bridge").asText(""), text(o, "dirtyTracker"), disks, o.path("held").asBoolean(),
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
