package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.support.state.StateFile;

/**
 * What one version of the binding knew of a running guest, written to {@value #NAME} in the guest's directory (next to
 * {@code ram}, {@code qmp.sock}, {@code qemu.pid}) so that the next version, after a bundle update, finds the guest
 * again: nothing in memory survives an update, only files and kernel state. A {@link StateFile}: JSON, written in one
 * step.
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
    /** Format 2, as the binding wrote it before it went through the support library: the files stay readable. */
    private static final StateFile FILE = new StateFile("QEMU guest state file", 2);

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
        ObjectNode o = FILE.create();
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
        FILE.write(dir.resolve(NAME), o);
    }

    static GuestStateFile read(Path dir) throws IOException {
        return FILE.read(dir.resolve(NAME), GuestStateFile::parse);
    }

    private static GuestStateFile parse(JsonNode o) throws IOException {
        Map<String, String> options = new LinkedHashMap<>();
        o.path("options").properties().forEach(e -> options.put(e.getKey(), e.getValue().asText()));
        List<GuestDisk> disks = new ArrayList<>();
        for (JsonNode d : o.path("disks")) {
            disks.add(new GuestDisk(StateFile.text(d, "name"), StateFile.text(d, "kind"), StateFile.text(d, "source"),
                    d.path("sizeBytes").asLong()));
        }
        List<String> taps = new ArrayList<>();
        o.path("taps").forEach(t -> taps.add(t.asText()));
        return new GuestStateFile(StateFile.text(o, "name"), options, o.path("memoryBytes").asLong(),
                o.path("pageSize").asInt(), taps, StateFile.text(o, "accel"), o.path("netns").asText(""),
                o.path("bridge").asText(""), StateFile.text(o, "dirtyTracker"), disks, o.path("held").asBoolean(),
                o.path("dirtyLog").asText("none"));
    }
}
