package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Where the tests find the repository and the assembled node, and how they run its scripts. */
final class Distribution {

    private Distribution() {
    }

    /** The repository's top directory (README.md, docs/, etc/). */
    static Path root() {
        return directory("romulus.root");
    }

    /** The node karaf:assembly made in target/assembly (what the tarball holds). */
    static Path assembly() {
        return directory("romulus.assembly");
    }

    private static Path directory(String property) {
        String value = System.getProperty(property);
        if (value == null) {
            throw new IllegalStateException("system property " + property + " is not set (the assembly's pom sets "
                    + "it; run the tests through Maven)");
        }
        Path p = Path.of(value).toAbsolutePath().normalize();
        assertTrue(Files.isDirectory(p), property + " = " + p + " is not a directory (run mvn package first?)");
        return p;
    }

    /** What a finished process said and how it ended. */
    record Result(int exit, String out, String err) {

        @Override
        public String toString() {
            return "exit " + exit + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    /** Runs {@code command} with {@code input} on its standard input; fails the test if it takes over 60 s. */
    static Result run(List<String> command, String input) throws IOException, InterruptedException {
        Path out = Files.createTempFile("romulus-out", ".txt");
        Path err = Files.createTempFile("romulus-err", ".txt");
        try {
            Process p = new ProcessBuilder(new ArrayList<>(command)).redirectOutput(out.toFile())
                    .redirectError(err.toFile()).start();
            try (OutputStream stdin = p.getOutputStream()) {
                stdin.write(input.getBytes(StandardCharsets.UTF_8));
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail(String.join(" ", command) + " did not end in 60 s");
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** The path of {@code tool} on PATH, or a failure naming the Debian package that has it. */
    static Path tool(String tool, String debianPackage) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return fail(tool + " is not installed: install the Debian package " + debianPackage
                + " (scripts/prerequisites.sh does)");
    }
}
