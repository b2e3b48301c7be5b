package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/contrib/romulus.service, the systemd unit the distribution ships: systemd itself accepts it, and it runs the
 * node the way the docs say (Karaf in the foreground as the main process, restarted on failure, its guests left
 * running when it stops).
 */
class SystemdUnitTest {

    private static final String HOME = "/opt/romulus";

    private static Path unit() {
        Path unit = Distribution.assembly().resolve("bin/contrib/romulus.service");
        assertTrue(Files.isRegularFile(unit), unit + " is not in the assembly");
        return unit;
    }

    /** KEY=VALUE lines of section {@code [name]}, comments left out (a repeated key keeps its last value). */
    private static Map<String, String> section(List<String> lines, String name) {
        Map<String, String> keys = new LinkedHashMap<>();
        boolean in = false;
        for (String line : lines) {
            String l = line.strip();
            if (l.startsWith("[")) {
                in = l.equals("[" + name + "]");
            } else if (in && !l.isEmpty() && !l.startsWith("#")) {
                int eq = l.indexOf('=');
                assertTrue(eq > 0, "not KEY=VALUE in [" + name + "]: " + l);
                keys.put(l.substring(0, eq).strip(), l.substring(eq + 1).strip());
            }
        }
        return keys;
    }

    @Test
    void runsKarafInTheForegroundRestartsItOnFailureAndLeavesTheGuestsRunningWhenStopped() throws IOException {
        List<String> lines = Files.readAllLines(unit(), StandardCharsets.UTF_8);
        Map<String, String> service = section(lines, "Service");
        assertEquals("simple", service.get("Type"), "the main process is Karaf's JVM itself");
        assertEquals(HOME + "/bin/karaf daemon", service.get("ExecStart"));
        assertEquals("on-failure", service.get("Restart"));
        assertEquals("process", service.get("KillMode"), "stopping the node must not kill its QEMU guests");
        assertEquals("root", service.get("User"), "QEMU, namespaces, NFQUEUE and userfaultfd need root");
        assertEquals("multi-user.target", section(lines, "Install").get("WantedBy"));
        assertEquals("network-online.target", section(lines, "Unit").get("After"));
        // "bin/karaf daemon" must exec the JVM (else systemd's SIGTERM would reach the script, not Karaf)
        String karaf = Files.readString(Distribution.assembly().resolve("bin/karaf"), StandardCharsets.UTF_8);
        assertTrue(karaf.matches("(?s).*'daemon'\\)[^;]*;;.*") && karaf.contains("KARAF_EXEC=\"exec\""),
                "bin/karaf daemon no longer execs the JVM in the foreground");
    }

    @Test
    void systemdAcceptsTheUnitWithoutAWarning(@TempDir Path dir) throws IOException, InterruptedException {
        Path analyze = Distribution.tool("systemd-analyze", "systemd");
        // systemd checks that ExecStart's program exists: point the unit at this assembly instead of /opt/romulus
        String text = Files.readString(unit(), StandardCharsets.UTF_8)
                .replace(HOME + "/", Distribution.assembly() + "/")
                .replace("WorkingDirectory=" + HOME, "WorkingDirectory=" + Distribution.assembly());
        assertTrue(!text.contains(HOME + "/bin"), text);
        Path copy = dir.resolve("romulus.service");
        Files.writeString(copy, text, StandardCharsets.UTF_8);
        Distribution.Result r = Distribution.run(List.of(analyze.toString(), "verify", copy.toString()), "");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err().strip() + r.out().strip(), "systemd-analyze verify warned: " + r);
    }

    @Test
    void theVerificationFailsOnABrokenUnit(@TempDir Path dir) throws IOException, InterruptedException {
        // the test above would pass vacuously if systemd-analyze accepted anything
        Path analyze = Distribution.tool("systemd-analyze", "systemd");
        Path broken = dir.resolve("broken.service");
        Files.writeString(broken, "[Service]\nType=simple\nExecStart=bin/karaf daemon\nRestart=sometimes\n",
                StandardCharsets.UTF_8);
        Distribution.Result r = Distribution.run(List.of(analyze.toString(), "verify", broken.toString()), "");
        assertTrue(r.exit() != 0 || !(r.err() + r.out()).isBlank(), r.toString());
    }
}
