package io.romulus.qemu.internal.dirty;

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
 * The kernel ABI as {@code src/test/c/uffd_golden.c} prints it: compiled with gcc against the installed
 * {@code <linux/userfaultfd.h>} and {@code <linux/fs.h>} (Debian linux-libc-dev) the first time a test asks, and run
 * once. Lines are {@code kind name value}; a machine without gcc or the headers fails, naming the package.
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
        if (!Files.exists(Path.of("/usr/include/linux/userfaultfd.h"))) {
            fail("/usr/include/linux/userfaultfd.h is missing: install Debian package linux-libc-dev (the kernel "
                    + "headers " + C_SOURCE + " is compiled against)");
        }
        try {
            Path dir = Files.createDirectories(Path.of("target", "uffd-golden"));
            Path program = dir.resolve("uffd_golden");
            Path gccLog = dir.resolve("gcc.log");
            Process gcc;
            try {
                gcc = new ProcessBuilder("gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o", program.toString(),
                        C_SOURCE.toString()).redirectErrorStream(true).redirectOutput(gccLog.toFile()).start();
            } catch (IOException e) {
                throw new AssertionError("gcc not found: install Debian package gcc (" + e.getMessage() + ")", e);
            }
            assertTrue(gcc.waitFor(120, TimeUnit.SECONDS), "gcc did not finish in 120 s");
            assertEquals(0, gcc.exitValue(), "gcc failed on " + C_SOURCE + ":\n" + Files.readString(gccLog));
            Process p = new ProcessBuilder(program.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), program + " did not finish in 30 s");
            assertEquals(0, p.exitValue(), program + " failed:\n" + out);
            Map<String, String> m = new HashMap<>();
            out.lines().map(l -> l.split(" ")).filter(f -> f.length == 3).forEach(f -> m.put(f[0] + " " + f[1], f[2]));
            return m;
        } catch (IOException e) {
            throw new AssertionError("cannot compile or run " + C_SOURCE + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while compiling or running " + C_SOURCE, e);
        }
    }
}
