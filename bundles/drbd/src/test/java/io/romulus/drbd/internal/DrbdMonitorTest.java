package io.romulus.drbd.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The events2 stream kept folded: the drbdtop --timestamps sample, then the guide's connection loss. */
class DrbdMonitorTest {

    @Test
    void foldsTheStream() {
        List<String> stream = new ArrayList<>(Samples.lines("drbdtop-events2-timestamps.txt"));
        stream.add("exists -");
        stream.add("2017-02-22T19:54:00.000000-08:00 change connection name:test3 peer-node-id:1 conn-name:tom "
                + "connection:Connecting");
        stream.add("not an event");
        ScriptedRunner runner = new ScriptedRunner().streams("drbdsetup events2 --timestamps --statistics", stream);
        try (DrbdMonitor m = new DrbdMonitor(DrbdSettings.defaults().tools(runner))) {
            m.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> m.state().eventCount() == 6);
            DrbdState.Resource r = m.state().resource("test3").orElseThrow();
            assertTrue(m.state().initialStateComplete());
            assertEquals("Connecting", r.connections().get("1").state());
            assertEquals("/dev/drbd150", r.device(0).orElseThrow().devicePath());
        }
        assertEquals(List.of("drbdsetup events2 --timestamps --statistics"), runner.calls());
    }
}
