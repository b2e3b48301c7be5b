package io.romulus.qemu.internal.dirty;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

import io.romulus.support.testing.GoldenProgram;

/**
 * The kernel ABI as {@code src/test/c/uffd_golden.c} prints it: compiled with gcc against the installed
 * {@code <linux/userfaultfd.h>} and {@code <linux/fs.h>} (Debian linux-libc-dev) by {@link GoldenProgram} the first
 * time a test asks, and run once. Lines are {@code kind name value}; a machine without gcc or the headers fails,
 * naming the package.
 */
final class UffdGolden {

    private static final Path C_SOURCE = Path.of("src/test/c/uffd_golden.c");
    private static Map<String, String> facts;

    private UffdGolden() {
    }

    /** The bytes of a sample struct. */
    static byte[] bytes(String sample) {
        return HexFormat.of().parseHex(fact("bytes " + sample));
    }

    /** A number the program printed: {@code const NAME}, {@code size struct}, {@code offset struct.field}. */
    static long number(String kindAndName) {
        return Long.parseUnsignedLong(fact(kindAndName));
    }

    /** Where a definition came from: {@code system} or {@code linux-6.7-uapi-copy}. */
    static String source(String what) {
        return fact("source " + what);
    }

    private static String fact(String key) {
        String value = facts().get(key);
        assertNotNull(value, "no '" + key + "' in the output of " + C_SOURCE);
        return value;
    }

    private static synchronized Map<String, String> facts() {
        if (facts == null) {
            facts = run();
        }
        return facts;
    }

    private static Map<String, String> run() {
        GoldenProgram program = GoldenProgram.of(C_SOURCE).needs("linux-libc-dev", "/usr/include/linux/userfaultfd.h");
        Map<String, String> m = new HashMap<>();
        program.lines().stream().map(l -> l.split(" ")).filter(f -> f.length == 3)
                .forEach(f -> m.put(f[0] + " " + f[1], f[2]));
        return m;
    }
}
