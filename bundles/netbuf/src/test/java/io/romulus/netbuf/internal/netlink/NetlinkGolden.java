package io.romulus.netbuf.internal.netlink;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

import io.romulus.support.testing.GoldenProgram;

/**
 * The golden bytes of the netlink messages, from {@code src/test/c/netlink_golden.c}: compiled with gcc against the
 * installed kernel headers (Debian linux-libc-dev) by {@link GoldenProgram} the first time a test asks, and run once.
 * A machine without gcc or the headers fails the tests that use it, naming the Debian package to install.
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
        GoldenProgram program = GoldenProgram.of(C_SOURCE).needs("linux-libc-dev", "/usr/include/linux/netlink.h",
                "/usr/include/linux/pkt_sched.h", "/usr/include/linux/netfilter/nfnetlink_queue.h");
        Map<String, String> m = new HashMap<>();
        for (String line : program.output().split("\n")) {
            int space = line.lastIndexOf(' ');
            if (space > 0) {
                m.put(line.substring(0, space), line.substring(space + 1));
            }
        }
        return m;
    }
}
