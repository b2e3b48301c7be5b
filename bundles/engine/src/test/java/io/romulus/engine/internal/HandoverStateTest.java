package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Properties;
import java.util.TreeMap;

import io.romulus.api.hypervisor.DomainId;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The hand-over state reads back as written; the properties file of an earlier engine is still read. */
class HandoverStateTest {

    @TempDir
    Path dir;

    private static PrimaryProtection.HandedOver primary() {
        NavigableMap<Long, long[]> unacked = new TreeMap<>(Map.of(41L, new long[] {1, 2, 1L << 40}, 42L, new long[0]));
        return new PrimaryProtection.HandedOver(DomainId.parse("sim:web"),
                InetSocketAddress.createUnresolved("10.0.0.2", 7700), InetSocketAddress.createUnresolved("10.0.0.2",
                7701), 25, Map.of("dirty-mib", "8"), true, "lineage-1", 43, 40, 42, true, false, true, unacked);
    }

    private static BackupReplica.HandedOver backup(String returnAddress) {
        return new BackupReplica.HandedOver(DomainId.parse("sim:db"), "lineage-2", 17, "node-a",
                Map.of("memory", "64M"), returnAddress, 64L << 20, 4096);
    }

    @Test
    void theStateReadsBackAsWritten() throws IOException {
        Path file = dir.resolve("data/" + EngineComponent.HANDOVER_FILE);
        HandoverState.write(file, List.of(primary()), List.of(backup("10.0.0.1:7700"), backup(null)));
        assertTrue(Files.readString(file).startsWith("{"), "JSON");
        HandoverState read = HandoverState.read(file);
        assertEquals(1, read.primaries().size());
        assertSamePrimary(primary(), read.primaries().get(0));
        assertEquals(List.of(backup("10.0.0.1:7700"), backup(null)), read.backups());
    }

    @Test
    void noFileIsNoState() throws IOException {
        assertNull(HandoverState.read(dir.resolve("none.json")));
    }

    @Test
    void garbageOrAnotherFormatIsRefused() throws IOException {
        Path file = dir.resolve(EngineComponent.HANDOVER_FILE);
        Files.writeString(file, "{\"format\": 3, \"primaries\": [], \"backups\": []}", StandardCharsets.UTF_8);
        IOException e = assertThrows(IOException.class, () -> HandoverState.read(file));
        assertTrue(e.getMessage().contains("of format 3; this version reads format 2"), e.getMessage());
        Files.writeString(file, "{\"format\": 2, \"primaries\": [{\"domain\": \"sim:web\"}], \"backups\": []}",
                StandardCharsets.UTF_8);
        e = assertThrows(IOException.class, () -> HandoverState.read(file));
        assertTrue(e.getMessage().contains("peer"), e.getMessage());
        Files.writeString(file, "{\"format\": 2, \"primaries\": [", StandardCharsets.UTF_8);
        e = assertThrows(IOException.class, () -> HandoverState.read(file));
        assertTrue(e.getMessage().contains("not JSON"), e.getMessage());
    }

    @Test
    void thePropertiesFileOfAnEarlierEngineIsRead() throws IOException {
        PrimaryProtection.HandedOver h = primary();
        Properties p = new Properties();
        p.setProperty("format", "1");
        p.setProperty("primaries", "1");
        p.setProperty("primary.0.domain", "sim:web");
        p.setProperty("primary.0.peer", "10.0.0.2:7700");
        p.setProperty("primary.0.heartbeat", "10.0.0.2:7701");
        p.setProperty("primary.0.interval", "25");
        p.setProperty("primary.0.option.dirty-mib", "8");
        p.setProperty("primary.0.verify", "true");
        p.setProperty("primary.0.lineage", "lineage-1");
        p.setProperty("primary.0.nextEpoch", "43");
        p.setProperty("primary.0.lastAcked", "40");
        p.setProperty("primary.0.lastCheckpointed", "42");
        p.setProperty("primary.0.resumable", "true");
        p.setProperty("primary.0.passing", "false");
        p.setProperty("primary.0.takenOver", "true");
        h.unackedPages().forEach((epoch, pfns) -> p.setProperty("primary.0.unacked." + epoch,
                HandoverState.encode(pfns)));
        p.setProperty("backups", "1");
        p.setProperty("backup.0.domain", "sim:db");
        p.setProperty("backup.0.lineage", "lineage-2");
        p.setProperty("backup.0.committedEpoch", "17");
        p.setProperty("backup.0.primaryNode", "node-a");
        p.setProperty("backup.0.option.memory", "64M");
        p.setProperty("backup.0.memoryBytes", Long.toString(64L << 20));
        p.setProperty("backup.0.pageSize", "4096");
        Path file = dir.resolve(EngineComponent.LEGACY_HANDOVER_FILE);
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            p.store(w, "Romulus engine hand-over state: read once by the next engine version, then deleted");
        }
        HandoverState read = HandoverState.read(file);
        assertSamePrimary(h, read.primaries().get(0));
        assertEquals(List.of(backup(null)), read.backups());
    }

    private static void assertSamePrimary(PrimaryProtection.HandedOver expected, PrimaryProtection.HandedOver actual) {
        assertEquals(expected.id(), actual.id());
        assertEquals(expected.peer(), actual.peer());
        assertEquals(expected.heartbeat(), actual.heartbeat());
        assertEquals(expected.intervalMs(), actual.intervalMs());
        assertEquals(expected.options(), actual.options());
        assertEquals(expected.verify(), actual.verify());
        assertEquals(expected.lineage(), actual.lineage());
        assertEquals(expected.nextEpoch(), actual.nextEpoch());
        assertEquals(expected.lastAcked(), actual.lastAcked());
        assertEquals(expected.lastCheckpointed(), actual.lastCheckpointed());
        assertEquals(expected.resumable(), actual.resumable());
        assertEquals(expected.passing(), actual.passing());
        assertEquals(expected.takenOver(), actual.takenOver());
        assertEquals(expected.unackedPages().keySet(), actual.unackedPages().keySet());
        expected.unackedPages().forEach((epoch, pfns) -> assertArrayEquals(pfns, actual.unackedPages().get(epoch)));
    }
}
