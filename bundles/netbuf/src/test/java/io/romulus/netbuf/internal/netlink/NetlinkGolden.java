package io.romulus.netbuf.internal.netlink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The golden bytes of the netlink messages, from {@code src/test/c/netlink_golden.c}: compiled with gcc against the
 * installed kernel headers (Debian linux-libc-dev) the first time a test asks, and run once. A machine without gcc
 * or the headers fails the tests that use it, naming the Debian package to install.
 */
public final class NetlinkGolden {

    private static final Path C_SOURCE = Path.of("src/test/c/netlink_golden.c");
    private static Map<String, String> lines;

    private NetlinkGolden() {
    }

    /** The bytes of one sample the C program built. */
    public static byte[] bytes(String sample) {
        String hex = output().get(sample);
        assertNotNull(hex, "no sample " + sample + " in the output of " + C_SOURCE);
        return HexFormat.of().parseHex(hex);
    }

    /** A constant the C program printed ({@code const NAME value}). */
    public static long constant(String name) {
        String value = output().get("const " + name);
        assertNotNull(value, "no const " + name + " in the output of " + C_SOURCE);
        return Long.parseLong(value);
    }

    private static synchronized Map<String, String> output() {
        if (lines == null) {
            lines = compileAndRun();
        }
        return lines;
    }

    private static Map<String, String> compileAndRun() {
        for (String header : new String[] {"/usr/include/linux/netlink.h", "/usr/include/linux/pkt_sched.h",
                "/usr/include/linux/netfilter/nfnetlink_queue.h"}) {
            if (!Files.exists(Path.of(header))) {
                fail(header + " is missing: install Debian package linux-libc-dev (the kernel headers "
                        + C_SOURCE + " is compiled against)");
            }
        }
        try {
            Path dir = Files.createDirectories(Path.of("target", "netlink-golden"));
            Path binary = dir.resolve("netlink_golden");
            Path log = dir.resolve("gcc.log");
            Process gcc;
            try {
                gcc = new ProcessBuilder("gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o", binary.toString(),
                        C_SOURCE.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            } catch (IOException e) {
                throw new AssertionError("gcc not found: install Debian package gcc (" + e.getMessage() + ")", e);
            }
            assertTrue(gcc.waitFor(120, TimeUnit.SECONDS), "gcc did not finish in 120 s");
            assertEquals(0, gcc.exitValue(), "gcc failed on " + C_SOURCE + ":\n" + Files.readString(log));
            Process run = new ProcessBuilder(binary.toString()).redirectErrorStream(true).start();
            String out = new String(run.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertTrue(run.waitFor(30, TimeUnit.SECONDS), binary + " did not finish in 30 s");
            assertEquals(0, run.exitValue(), binary + " failed:\n" + out);
            Map<String, String> m = new HashMap<>();
            for (String line : out.split("\n")) {
                int space = line.lastIndexOf(' ');
                if (space > 0) {
                    m.put(line.substring(0, space), line.substring(space + 1));
                }
            }
            return m;
        } catch (IOException e) {
            throw new AssertionError("cannot compile or run " + C_SOURCE + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while compiling or running " + C_SOURCE, e);
        }
    }
}
