package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.GuestDisk;

/**
 * Fuzzes the engine's reading of the HELLO's options: the disks a primary announces ({@link DiskAnnouncement#parse}),
 * each of which the backup then replicates. Each line of an input is one option, {@code key=value}. For every input:
 * the announcement is refused with an {@link IllegalArgumentException} or read into disks with a name, a kind and a
 * size of at least 0, one per {@code romulus.disk.<i>} option, that announce again to the same options. The seeds
 * (.../DiskAnnouncementFuzzTestInputs/options/) are announcements {@link DiskAnnouncement#announce} wrote for an NBD
 * and a DRBD disk, beside the engine's other options. Run by execution {@code fuzz} of the parent pom
 * (docs/developing.md).
 */
class DiskAnnouncementFuzzTest {

    @FuzzTest
    void options(byte[] input) {
        Map<String, String> options = new LinkedHashMap<>();
        for (String line : new String(input, StandardCharsets.UTF_8).split("\n")) {
            int eq = line.indexOf('=');
            if (eq >= 0) {
                options.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        List<GuestDisk> disks;
        try {
            disks = DiskAnnouncement.parse(options);
        } catch (IllegalArgumentException e) {
            return;
        }
        long announced = options.keySet().stream().filter(k -> k.startsWith(DiskAnnouncement.PREFIX)).count();
        assertEquals(announced, disks.size());
        for (GuestDisk d : disks) {
            assertFalse(d.name().isEmpty() || d.kind().isEmpty());
            assertTrue(d.sizeBytes() >= 0);
        }
        Map<String, String> again = new LinkedHashMap<>();
        DiskAnnouncement.announce(disks, again);
        assertEquals(disks, DiskAnnouncement.parse(again));
    }
}
