package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The events2 line parser on output of real drbdsetup versions. Sources of the samples (test resources):
 * <ul>
 * <li>{@code drbd-utils-events2-*.txt}: the expected output in LINBIT/drbd-utils tests/v9/events2-*.test (commit
 * b4b2f5b9), produced by drbd-utils 9's drbdsetup from recorded kernel netlink messages (tests/v9/*.msgs)</li>
 * <li>{@code drbdtop-events2-timestamps*.txt}: {@code --timestamps} lines from LINBIT/drbdtop
 * pkg/resource/resource_test.go (TestNewEvent) and pkg/update/update_test.go (the sample comment), commit 00ee7782</li>
 * <li>{@code ug9-events2-*.txt}: the DRBD 9 User's Guide, LINBIT/linbit-documentation
 * UG9/en/drbd-administration-manual.adoc, section "Retrieving status by information using the DRBD setup command"
 * (commit 9a13cb5e); the guide wraps long lines, see {@link Samples#unwrapped}</li>
 * </ul>
 */
class Events2ParserTest {

    @Test
    void parsesEveryObjectOfTheUsersGuideStatisticsSample() throws Exception {
        List<Events2Event> events = new ArrayList<>();
        for (String line : Samples.unwrapped("ug9-events2-statistics-now.txt")) {
            events.add(Events2Parser.parse(line));
        }
        assertEquals(List.of("resource", "connection", "device", "device", "peer-device", "peer-device", "-"),
                events.stream().map(Events2Event::object).toList());
        Events2Event dev = events.get(2);
        assertEquals("exists", dev.action());
        assertEquals("r0", dev.resource());
        assertEquals("7", dev.get("minor"));
        assertEquals("6291228", dev.get("size"));
        assertEquals("no", dev.get("blocked"));
        assertNull(dev.timestamp());
        assertTrue(events.get(6).endOfInitialState());
    }

    @Test
    void readsTimestampsWithTheirOffset() throws Exception {
        // LINBIT/drbdtop pkg/resource/resource_test.go
        Events2Event e = Events2Parser.parse(Samples.lines("drbdtop-events2-timestamps.txt").get(1));
        assertEquals(OffsetDateTime.of(2017, 2, 22, 19, 53, 58, 445_263_000, ZoneOffset.ofHours(-8)), e.timestamp());
        assertEquals("connection", e.object());
        assertEquals("tom", e.get("conn-name"));
        assertEquals("Connected", e.get("connection"));
    }

    @Test
    void keepsColonsInValuesAndUnknownKeys() throws Exception {
        // LINBIT/drbd-utils tests/v9/events2-sync.test: a path, and a resync with dbdt1/eta (--statistics)
        List<String> lines = Samples.lines("drbd-utils-events2-sync-statistics.txt");
        Events2Event path = Events2Parser.parse(lines.get(5));
        assertEquals("path", path.object());
        assertEquals("ipv4:1.2.3.4:7789", path.get("local"));
        assertEquals("ipv4:5.6.7.8:7790", path.get("peer"));
        Events2Event sync = Events2Parser.parse(lines.get(lines.size() - 1));
        assertEquals("37.50", sync.get("done"));
        assertEquals("0.24", sync.get("dbdt1"));
        assertEquals("10", sync.get("eta"));
    }

    @Test
    void parsesHelperCallsAndResponses() throws Exception {
        // LINBIT/drbd-utils tests/v9/events2-all-create-helper.test
        List<String> lines = Samples.lines("drbd-utils-events2-all-create-helper.txt");
        Events2Event call = Events2Parser.parse(lines.get(6));
        assertEquals("call", call.action());
        assertEquals("helper", call.object());
        assertEquals("before-resync-target", call.get("helper"));
        Events2Event response = Events2Parser.parse(lines.get(7));
        assertEquals("response", response.action());
        assertEquals("1", response.get("status"));
    }

    @Test
    void keepsObjectsAndActionsItDoesNotKnow() throws Exception {
        Events2Event e = Events2Parser.parse("exists quorum-witness name:r0 votes:3");
        assertEquals("quorum-witness", e.object());
        assertEquals("3", e.get("votes"));
        Events2Event r = Events2Parser.parse("rename resource name:r0 new_name:r1");
        assertEquals("rename", r.action());
        assertEquals("r1", r.get("new_name"));
    }

    @Test
    void reportsMalformedLinesWithTheirContent() {
        for (String bad : List.of("garbage", "exists resource name:r0 role", "change connection peer-node-id:1",
                "2017-02-31T25:61:00.000000+00:00 exists -", "exists - name:r0", "name:r0 exists resource")) {
            Events2Parser.MalformedLine e = assertThrows(Events2Parser.MalformedLine.class,
                    () -> Events2Parser.parse(bad), bad);
            assertEquals(bad, e.line());
            assertTrue(e.getMessage().contains("\"" + bad + "\""), e.getMessage());
        }
    }

    @Test
    void aStreamGoesOnAfterAMalformedLine() throws Exception {
        // what the real drbdsetup 9.22 says on this host (no kernel module), mixed into a stream
        String text = "modprobe: FATAL: Module drbd not found in directory /lib/modules/6.1.0\n"
                + String.join("\n", Samples.lines("drbd-utils-events2-all-create-change.txt")) + "\n\n";
        List<Events2Event> events = new ArrayList<>();
        List<String> malformed = new ArrayList<>();
        Events2Parser.parseAll(new StringReader(text), events::add, m -> malformed.add(m.line()));
        assertEquals(List.of("modprobe: FATAL: Module drbd not found in directory /lib/modules/6.1.0"), malformed);
        assertEquals(13, events.size());
    }
}
