package io.romulus.itests.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

class FaultProbeTest {

    /** The probe times real faults (a positive, finite cost) and leaves no file behind on /dev/shm. */
    @Test
    void measuresAPositiveCostAndCleansUp() throws IOException {
        double micros = FaultProbe.microsPerFault();
        assertTrue(micros > 0 && Double.isFinite(micros), "cost per fault: " + micros);
        try (Stream<Path> left = Files.list(Path.of("/dev/shm"))) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith("romulus-fault-probe-")),
                    "the probe's files are deleted");
        }
    }

    /** The report line carries the figure and what the faults cost at it: 10,000 faults of 2 us are 20 ms a second. */
    @Test
    void describesTheCostOfTheGuestsFaults() {
        String line = FaultProbe.describe(2.0, 10_000);
        assertTrue(line.contains("2.00 us") && line.contains("cost at least 20 ms a second (2.0% of a core)"), line);
    }
}
