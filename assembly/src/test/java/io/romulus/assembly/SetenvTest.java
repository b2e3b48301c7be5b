package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/setenv's heap: Karaf 4.4's scripts ignore JAVA_MAX_MEM, so setenv gives the node's own JVM (bin/karaf,
 * bin/start) its -Xmx and, unless ROMULUS_PRETOUCH=no, a fixed heap touched at start; bin/client and the other
 * helper scripts, which read the same file, get neither.
 */
class SetenvTest {

    /**
     * What EXTRA_JAVA_OPTS is once {@code script} (a stand-in named as the Karaf script it plays) has sourced the
     * assembly's bin/setenv, with {@code env} as "VAR=value" words before it.
     */
    private static String optionsOf(Path dir, String script, String env) throws IOException, InterruptedException {
        Path bin = dir.resolve("bin");
        Files.createDirectories(bin);
        Files.createDirectories(dir.resolve("etc"));
        Path setenv = bin.resolve("setenv");
        if (!Files.exists(setenv)) {
            Files.copy(Distribution.assembly().resolve("bin/setenv"), setenv);
        }
        Path stand = bin.resolve(script);
        Files.writeString(stand, "#!/bin/sh\nunset EXTRA_JAVA_OPTS JAVA_MIN_MEM JAVA_MAX_MEM ROMULUS_PRETOUCH\n" + env
                + "\n. \"$(dirname \"$0\")/setenv\"\nprintf '%s' \"$EXTRA_JAVA_OPTS\"\n");
        Distribution.Result r = Distribution.run(List.of("sh", stand.toString()), "");
        assertEquals(0, r.exit(), r.toString());
        return " " + r.out().strip() + " ";
    }

    @Test
    void theNodesJvmGetsAFixedHeapTouchedAtStart(@TempDir Path dir) throws Exception {
        for (String script : List.of("karaf", "start")) {
            String opts = optionsOf(dir, script, "");
            assertTrue(opts.contains(" -Xmx2G ") && opts.contains(" -Xms2G ") && opts.contains(" -XX:+AlwaysPreTouch "),
                    script + ": " + opts);
            assertTrue(opts.contains(" -XX:MaxGCPauseMillis=20 "), opts);
        }
        String opts = optionsOf(dir, "karaf", "export JAVA_MAX_MEM=1G");
        assertTrue(opts.contains(" -Xmx1G ") && opts.contains(" -Xms1G "), opts);
    }

    @Test
    void pretouchCanBeTurnedOffAndAnOperatorsOwnOptionsStand(@TempDir Path dir) throws Exception {
        String off = optionsOf(dir, "karaf", "export ROMULUS_PRETOUCH=no");
        assertTrue(off.contains(" -Xmx2G "), off);
        assertFalse(off.contains("-Xms") || off.contains("AlwaysPreTouch"), off);

        String own = optionsOf(dir, "karaf", "export EXTRA_JAVA_OPTS='-Xmx3g -XX:+AlwaysPreTouch -Xms3g'");
        assertEquals(1, own.split("-Xmx", -1).length - 1, own);
        assertEquals(1, own.split("AlwaysPreTouch", -1).length - 1, own);
        assertEquals(1, own.split("-Xms", -1).length - 1, own);
    }

    /**
     * An operator's own -Xmx or -Xms in EXTRA_JAVA_OPTS: the initial heap setenv adds follows it, and the JVM starts
     * with what setenv made (an -Xms above the operator's -Xmx would stop it: "Initial heap size set to a larger
     * value than the maximum heap size").
     */
    @Test
    void anOperatorsOwnHeapSizesGiveAJvmThatStarts(@TempDir Path dir) throws Exception {
        String xmx = optionsOf(dir, "karaf", "export JAVA_MAX_MEM=256m EXTRA_JAVA_OPTS='-Xmx48m -Dx=*'");
        assertTrue(xmx.contains(" -Xms48m ") && !xmx.contains("256m"), xmx);
        assertJvmStarts(xmx);
        String xms = optionsOf(dir, "karaf", "export JAVA_MAX_MEM=64m EXTRA_JAVA_OPTS='-Xms32m'");
        assertEquals(1, xms.split("-Xms", -1).length - 1, xms);
        assertTrue(xms.contains(" -Xmx64m ") && xms.contains(" -XX:+AlwaysPreTouch "), xms);
        assertJvmStarts(xms);
        String plain = optionsOf(dir, "karaf", "export JAVA_MAX_MEM=64m");
        assertTrue(plain.contains(" -Xmx64m ") && plain.contains(" -Xms64m "), plain);
        assertJvmStarts(plain);
    }

    private static void assertJvmStarts(String options) throws IOException, InterruptedException {
        List<String> cmd = new java.util.ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(options.strip().split("\\s+")));
        cmd.add("-version");
        Distribution.Result r = Distribution.run(cmd, "");
        assertEquals(0, r.exit(), "the JVM refused " + options + ": " + r);
    }

    @Test
    void theClientAndTheOtherHelperScriptsGetNoNodeHeap(@TempDir Path dir) throws Exception {
        for (String script : List.of("client", "shell", "status", "stop")) {
            String opts = optionsOf(dir, script, "");
            assertFalse(opts.contains("-Xmx") || opts.contains("-Xms") || opts.contains("AlwaysPreTouch"),
                    script + ": " + opts);
        }
    }
}
