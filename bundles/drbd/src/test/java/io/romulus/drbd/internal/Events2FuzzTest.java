package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes the parser of {@code drbdsetup events2} (and the state it folds into): whatever the tool prints, a line is
 * an event or a {@link Events2Parser.MalformedLine}, never another exception, and an event parses again to itself.
 * The seeds (src/test/resources/.../Events2FuzzTestInputs/lines/) are captured drbd-utils output. Run by execution
 * {@code fuzz} of the parent pom (docs/developing.md).
 */
class Events2FuzzTest {

    @FuzzTest
    void lines(byte[] input) throws IOException {
        String text = new String(input, StandardCharsets.UTF_8);
        List<Events2Event> events = new ArrayList<>();
        List<Events2Parser.MalformedLine> malformed = new ArrayList<>();
        Events2Parser.parseAll(new StringReader(text), events::add, malformed::add);
        DrbdState state = new DrbdState();
        for (Events2Event e : events) {
            assertFalse(e.action().isEmpty() || e.object().isEmpty(), e.line());
            assertFalse(e.action().contains(":") || e.object().contains(":"), e.line());
            for (Map.Entry<String, String> f : e.fields().entrySet()) {
                assertFalse(f.getKey().isEmpty() || f.getKey().contains(":"), e.line());
            }
            Events2Event again = parseAgain(e.line());
            assertEquals(e, again);
            state.apply(e).ifPresent(r -> {
                // what the monitor reads of a resource never throws
                r.role();
                r.suspended();
                r.connections().values().forEach(c -> c.connected());
                r.devices().values().forEach(d -> {
                    d.devicePath();
                    d.sizeKib();
                });
                r.peerDevices().values().forEach(p -> {
                    p.donePercent();
                    p.outOfSyncKib();
                });
            });
        }
        for (Events2Parser.MalformedLine m : malformed) {
            assertTrue(text.contains(m.line()), m.getMessage());
        }
    }

    private static Events2Event parseAgain(String line) {
        try {
            return Events2Parser.parse(line);
        } catch (Events2Parser.MalformedLine e) {
            throw new AssertionError("an event's own line is malformed on the second parse", e);
        }
    }
}
