package io.romulus.support.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/** Host tools are found on PATH or in the sbin directories; a missing one is said to be missing. */
class ExecutablesTest {

    @Test
    void aToolOnPathIsFound() {
        Path sh = Executables.find("sh").orElseThrow();
        assertTrue(Files.isExecutable(sh), sh.toString());
        assertEquals(sh.toString(), Executables.locate("sh"));
    }

    @Test
    void aToolInSbinIsFoundThoughPathLacksIt() {
        // ip lives in /usr/sbin or /sbin on Debian, which a service's PATH often lacks
        assertTrue(Executables.find("ip").isPresent(), "iproute2's ip is installed on the test hosts");
    }

    @Test
    void aPathIsTakenAsItIs() {
        assertEquals(Optional.of(Path.of("/bin/sh")), Executables.find("/bin/sh"));
        assertEquals(Optional.empty(), Executables.find("/nonexistent/sh"));
        assertEquals("/nonexistent/sh", Executables.locate("/nonexistent/sh"));
    }

    @Test
    void aMissingToolIsNotFound() {
        assertEquals(Optional.empty(), Executables.find("romulus-no-such-tool"));
        assertEquals("romulus-no-such-tool", Executables.locate("romulus-no-such-tool"));
    }
}
