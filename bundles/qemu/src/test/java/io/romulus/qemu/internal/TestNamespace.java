package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** A network namespace a root test makes for its interfaces, and the commands it runs to make them. */
final class TestNamespace {

    private TestNamespace() {
    }

    /**
     * Adds network namespace {@code netns} without IPv6 (its solicitations would be frames at moments the test does not
     * choose).
     */
    static void add(String netns) throws Exception {
        run("ip", "netns", "add", netns);
        run("ip", "netns", "exec", netns, "bash", "-c", "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; "
                + "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6");
    }

    /** Deletes network namespace {@code netns} with its interfaces, if it exists. */
    static void delete(String netns) throws Exception {
        new ProcessBuilder("ip", "netns", "del", netns).redirectErrorStream(true).start().waitFor(10,
                TimeUnit.SECONDS);
    }

    /** Runs {@code cmd}, which must succeed; returns what it printed. */
    static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + " failed (this test needs root, iproute2 and bash): "
                + out);
        return out;
    }
}
