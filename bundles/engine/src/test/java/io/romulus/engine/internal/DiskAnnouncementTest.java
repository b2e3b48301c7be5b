package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.GuestDisk;

import org.junit.jupiter.api.Test;

class DiskAnnouncementTest {

    @Test
    void disksTravelAsOneOptionEachAndComeBackAsTheyWere() {
        List<GuestDisk> disks = List.of(
                new GuestDisk("vda", "nbd", "nbd+unix:///vda?socket=/run/romulus/nbd.sock", 8L << 30),
                new GuestDisk("vdb", "drbd", "/dev/drbd1,odd%2Cname%", 0));
        Map<String, String> options = new LinkedHashMap<>(Map.of("memory", "4M"));
        DiskAnnouncement.announce(disks, options);
        assertEquals("vda,nbd,8589934592,nbd+unix:///vda?socket=/run/romulus/nbd.sock",
                options.get("romulus.disk.0"));
        assertEquals("vdb,drbd,0,/dev/drbd1%2Codd%252Cname%25", options.get("romulus.disk.1"));
        assertEquals(disks, DiskAnnouncement.parse(options));
        assertEquals(List.of(), DiskAnnouncement.parse(Map.of("memory", "4M")));
    }

    @Test
    void malformedAnnouncementsAreRefused() {
        for (Map<String, String> bad : List.of(Map.of("romulus.disk.1", "vda,nbd,1,x"),
                Map.of("romulus.disk.0", "vda,nbd,1"), Map.of("romulus.disk.0", "vda,nbd,big,x"),
                Map.of("romulus.disk.0", ",nbd,1,x"), Map.of("romulus.disk.0", "vda,nbd,-1,x"))) {
            var e = assertThrows(IllegalArgumentException.class, () -> DiskAnnouncement.parse(bad));
            assertTrue(e.getMessage().contains("romulus.disk."), e.getMessage());
        }
    }
}
