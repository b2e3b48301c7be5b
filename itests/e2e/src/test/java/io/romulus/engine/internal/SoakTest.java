package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Issue 5's soak run: the two-node set-up of {@link FaultInjectionTest} with the default settings (automatic
 * failover, no witness, the detector's and engine's defaults), the guest under load (its dirtier at 4000 pages/s,
 * the client incrementing every 50 ms, TCG on 2 cores) and the host's CPU busy besides ({@code romulus.soak.burners}
 * processes spinning, default 2, one per core), for {@code romulus.soak.minutes} (default 10) minutes without a
 * fault. No false failover may happen: neither node suspects the other (the detector convicts after about 150 ms of
 * silence), the primary never runs unprotected, the client's one connection counts on without a gap. The detector's
 * own counters are reported.
 */
@Tag("soak") // ten minutes: not in the default suite; scripts/test --soak runs it
class SoakTest {

    @TempDir
    Path dir;

    private final FaultRig rig = new FaultRig();

    private final List<Process> burners = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        burners.forEach(Process::destroyForcibly);
        rig.close();
    }

    @Test
    void tenMinutesOfNormalOperationUnderLoadCauseNoFalseFailover() throws Exception {
        double minutes = Double.parseDouble(System.getProperty("romulus.soak.minutes", "10"));
        rig.start(dir, false, "dirty-rate=4000");
        for (int i = 0; i < Integer.getInteger("romulus.soak.burners", 2); i++) {
            burners.add(new ProcessBuilder("sh", "-c", "while :; do :; done").start());
        }
        long start = System.nanoTime();
        long end = start + (long) (minutes * 60e9);
        long lastValues = rig.values.size();
        while (System.nanoTime() < end) {
            Thread.sleep(5000);
            assertEquals(List.of(), rig.errors, "the client's connection");
            assertTrue(rig.values.size() > lastValues, "the client got answers in the last 5 s");
            lastValues = rig.values.size();
            assertTrue(rig.b.alarms.isEmpty(), "alarms on the backup: " + rig.b.alarms);
            assertTrue(rig.a.alarms.isEmpty(), "alarms on the primary: " + rig.a.alarms);
        }
        long maxGap = rig.maxGapMs(start, end);
        long committed = rig.committed();
        List<String> detectorA = rig.a.command("detector");
        List<String> detectorB = rig.b.command("detector");
        rig.checkClient();
        String line = String.format("SOAK %.1f min, %d CPU burners | checkpoints committed %d (%.1f/s) | false "
                + "failovers 0 | client answers %d, longest wait %d ms | detector on A: %s | detector on B: %s", minutes, burners.size(),
                committed, committed / (minutes * 60), rig.values.size(), maxGap, detectorA, detectorB);
        LoggerFactory.getLogger(SoakTest.class).info(line);
        Files.writeString(Path.of("target", "fault-injection.txt"), line + System.lineSeparator(),
                StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        assertTrue(detectorB.stream().anyMatch(l -> l.startsWith("peer node-a") && l.contains("suspicions=0")),
                "the backup's detector never suspected the primary: " + detectorB);
        assertTrue(detectorA.stream().anyMatch(l -> l.startsWith("peer node-b") && l.contains("suspicions=0")),
                "the primary's detector never suspected the backup: " + detectorA);
    }
}
