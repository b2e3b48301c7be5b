package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * Folding real events2 output into the state per resource. Sources (see also {@link Events2ParserTest}):
 * <ul>
 * <li>{@code doc-events2-statistics-now-primary.txt}: {@code drbdsetup events2 --statistics --now} on the Primary of
 * a healthy two-node pair, from a public Chinese translation of the DRBD 9 administration guide ("性能指标" section,
 * host drdb01) found in the public code corpus (stored file id 16672017562; its repository is not named by the
 * index)</li>
 * <li>{@code ug9-events2-now.txt}, {@code ug9-events2-statistics-now.txt}, {@code ug9-events2-connection-lost.txt}:
 * DRBD 9 User's Guide (LINBIT/linbit-documentation UG9/en/drbd-administration-manual.adoc)</li>
 * <li>{@code drbd-utils-events2-*.txt}: LINBIT/drbd-utils tests/v9/events2-{sync, all-create-change,
 * all-create-helper, all-create-destroy, may-promote-peer-role}.test</li>
 * <li>{@code drbdtop-events2-timestamps*.txt}: LINBIT/drbdtop pkg/resource/resource_test.go,
 * pkg/update/update_test.go</li>
 * </ul>
 */
class DrbdStateTest {

    @Test
    void healthyPrimaryWithItsSecondaryNow() {
        DrbdState s = Samples.fold(Samples.lines("doc-events2-statistics-now-primary.txt"));
        assertTrue(s.initialStateComplete());
        DrbdState.Resource r = s.resource("r0").orElseThrow();
        assertEquals("Primary", r.role());
        assertEquals("no", r.suspended());
        assertEquals("flush", r.fields().get("write-ordering"));
        DrbdState.Connection c = r.connections().get("0");
        assertTrue(c.connected());
        assertEquals("peer", c.name());
        assertEquals("Secondary", c.peerRole());
        DrbdState.Device d = r.device(0).orElseThrow();
        assertEquals("UpToDate", d.disk());
        assertEquals("/dev/drbd1", d.devicePath());
        assertEquals(31455260, d.sizeKib());
        DrbdState.PeerDevice p = r.peerDevice("0", 0).orElseThrow();
        assertEquals("Established", p.replication());
        assertEquals("UpToDate", p.peerDisk());
        assertEquals(0, p.outOfSyncKib());
        assertNull(p.donePercent());
    }

    @Test
    void usersGuidePairWithTwoVolumes() {
        for (String sample : List.of("ug9-events2-now.txt", "ug9-events2-statistics-now.txt")) {
            DrbdState.Resource r = Samples.fold(Samples.unwrapped(sample)).resource("r0").orElseThrow();
            assertEquals("Secondary", r.role(), sample);
            assertEquals(List.of(0, 1), List.copyOf(r.devices().keySet()), sample);
            assertEquals("/dev/drbd8", r.device(1).orElseThrow().devicePath(), sample);
            assertEquals(1, r.peerDevices(1).size(), sample);
            assertEquals("UpToDate", r.peerDevices(1).get(0).peerDisk(), sample);
            assertTrue(r.connections().get("1").connected(), sample);
        }
    }

    @Test
    void connectionLossThenReconnect() {
        // loss: the guide's --now state of r0, then its real-time lines (StandAlone, Unconnected, Connecting)
        List<String> lines = new ArrayList<>(Samples.unwrapped("ug9-events2-now.txt"));
        lines.addAll(Samples.lines("ug9-events2-connection-lost.txt"));
        DrbdState lost = Samples.fold(lines);
        DrbdState.Connection c = lost.resource("r0").orElseThrow().connections().get("1");
        assertFalse(c.connected());
        assertEquals("Connecting", c.state());
        assertEquals("Secondary", c.peerRole(), "a change line carries only what changed; the rest is kept");

        // (re)connect: drbd-utils' StandAlone -> Connected, then replication Off -> Established, UpToDate
        DrbdState s = new DrbdState();
        List<String> change = Samples.lines("drbd-utils-events2-all-create-change.txt");
        List<DrbdState.Connection> seen = new ArrayList<>();
        for (String line : change) {
            Events2Parser.accept(line, e -> s.apply(e).ifPresent(r -> {
                DrbdState.Connection now = r.connections().get("1");
                if (now != null && (seen.isEmpty() || !seen.get(seen.size() - 1).state().equals(now.state()))) {
                    seen.add(now);
                }
            }), m -> {
                throw new AssertionError(m.getMessage());
            });
        }
        assertEquals(List.of("StandAlone", "Connected"), seen.stream().map(DrbdState.Connection::state).toList());
        DrbdState.PeerDevice p = s.resource("some-resource").orElseThrow().peerDevice("1", 0).orElseThrow();
        assertEquals("Established", p.replication());
        assertEquals("UpToDate", p.peerDisk());
        assertEquals("no", p.fields().get("resync-suspended"), "kept from the create line");
    }

    @Test
    void resyncWithProgress() {
        DrbdState plain = Samples.fold(Samples.lines("drbd-utils-events2-sync.txt"));
        DrbdState.PeerDevice p = plain.resource("some-resource").orElseThrow().peerDevice("1", 0).orElseThrow();
        assertEquals("SyncSource", p.replication());
        assertEquals("Inconsistent", p.peerDisk());
        assertTrue(p.isSyncing());
        assertEquals(37.5, p.donePercent());

        DrbdState stats = Samples.fold(Samples.lines("drbd-utils-events2-sync-statistics.txt"));
        DrbdState.Resource r = stats.resource("some-resource").orElseThrow();
        DrbdState.PeerDevice ps = r.peerDevice("1", 0).orElseThrow();
        assertEquals(37.5, ps.donePercent());
        assertEquals(2500, ps.outOfSyncKib());
        assertEquals("10", ps.fields().get("eta"));
        assertEquals("UpToDate", r.device(0).orElseThrow().disk());
        assertEquals("/dev/sda", r.device(0).orElseThrow().fields().get("backing_dev"));

        // the resync ends: a new replication state without done: drops the progress
        stats.apply(parse("change peer-device name:some-resource peer-node-id:1 conn-name:some-peer volume:0 "
                + "replication:Established peer-disk:UpToDate peer-client:no"));
        DrbdState.PeerDevice done = stats.resource("some-resource").orElseThrow().peerDevice("1", 0).orElseThrow();
        assertFalse(done.isSyncing());
        assertNull(done.donePercent());
        assertNull(done.fields().get("done"));
    }

    @Test
    void resyncReportedWithoutPeerNodeIdAndWithTimestamps() {
        // drbdtop's sample from an early DRBD 9: no peer-node-id, so the connection is keyed by its name
        DrbdState s = Samples.fold(Samples.lines("drbdtop-events2-timestamps-syncsource.txt"));
        DrbdState.Resource r = s.resource("test0").orElseThrow();
        assertEquals("Primary", r.role());
        DrbdState.Connection c = r.connections().get("conn-name:peer");
        assertTrue(c.connected());
        DrbdState.PeerDevice p = r.peerDevice("conn-name:peer", 0).orElseThrow();
        assertEquals("SyncSource", p.replication());
        assertEquals(205655500, p.outOfSyncKib());
        assertEquals(OffsetDateTime.of(2017, 2, 15, 14, 43, 16, 688_437_000, ZoneOffset.UTC), r.lastUpdate());
        assertFalse(s.initialStateComplete(), "the sample has no exists - line");
    }

    @Test
    void promotion() {
        DrbdState s = new DrbdState();
        List<String> roles = new ArrayList<>();
        for (String line : Samples.lines("drbd-utils-events2-all-create-change.txt")) {
            Events2Parser.accept(line, e -> s.apply(e).ifPresent(r -> {
                if (roles.isEmpty() || !roles.get(roles.size() - 1).equals(r.role())) {
                    roles.add(r.role());
                }
            }), m -> {
                throw new AssertionError(m.getMessage());
            });
        }
        assertEquals(List.of("Secondary", "Primary"), roles);
        DrbdState.Resource r = s.resource("some-resource").orElseThrow();
        assertEquals("no", r.fields().get("may_promote"));
        assertEquals("10102", r.fields().get("promotion_score"));
        assertEquals("no", r.suspended(), "kept from the create line");
        assertEquals(1, r.others().size(), "the path is kept");
        assertEquals("yes", r.others().values().iterator().next().get("established"));
    }

    @Test
    void peerPromotionSeenOnTheConnection() {
        DrbdState s = Samples.fold(Samples.lines("drbd-utils-events2-may-promote-peer-role.txt"));
        DrbdState.Connection c = s.resource("some-resource").orElseThrow().connections().get("1");
        assertEquals("Primary", c.peerRole());
        assertEquals("Connected", c.state(), "the role-only change keeps the connection state");
    }

    @Test
    void helperCallsAreKept() {
        DrbdState s = Samples.fold(Samples.lines("drbd-utils-events2-all-create-helper.txt"));
        DrbdState.Resource r = s.resource("some-resource").orElseThrow();
        String key = r.others().keySet().stream().filter(k -> k.startsWith("helper")).findFirst().orElseThrow();
        assertEquals("response", r.others().get(key).get("_action"));
        assertEquals("1", r.others().get(key).get("status"));
    }

    @Test
    void destroyRemovesObjectsAndResource() {
        List<String> lines = Samples.lines("drbd-utils-events2-all-create-destroy.txt");
        DrbdState s = Samples.fold(lines.subList(0, 8));
        DrbdState.Resource r = s.resource("some-resource").orElseThrow();
        assertTrue(r.peerDevices().isEmpty());
        assertTrue(r.others().isEmpty(), "the path was destroyed");
        assertEquals(1, r.connections().size());
        for (String line : lines.subList(8, lines.size())) {
            s.apply(parse(line));
        }
        assertTrue(s.resource("some-resource").isEmpty());
    }

    @Test
    void renameMovesTheResource() {
        DrbdState s = Samples.fold(Samples.lines("doc-events2-statistics-now-primary.txt"));
        s.apply(parse("rename resource name:r0 new_name:data"));
        assertTrue(s.resource("r0").isEmpty());
        assertEquals("Primary", s.resource("data").orElseThrow().role());
    }

    private static Events2Event parse(String line) {
        try {
            return Events2Parser.parse(line);
        } catch (Events2Parser.MalformedLine e) {
            throw new AssertionError(e);
        }
    }
}
