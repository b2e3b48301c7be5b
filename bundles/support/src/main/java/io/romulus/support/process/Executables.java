package io.romulus.support.process;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Finds host tools: on PATH, then in the sbin and bin directories a service's PATH often lacks ({@code ip},
 * {@code tc}, {@code drbdsetup} live in /usr/sbin).
 */
public final class Executables {

    private static final List<String> USUAL = List.of("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin",
            "/usr/bin", "/bin");

    private Executables() {
    }

    /**
     * The executable {@code name}: itself when it contains a slash (if it is an executable file), else the first
     * executable file of that name on PATH or in the usual directories; empty when there is none.
     */
    public static Optional<Path> find(String name) {
        if (name.indexOf('/') >= 0) {
            Path p = Path.of(name);
            return isExecutableFile(p) ? Optional.of(p) : Optional.empty();
        }
        Set<String> dirs = new LinkedHashSet<>();
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(File.pathSeparator)) {
                if (!d.isEmpty()) {
                    dirs.add(d);
                }
            }
        }
        dirs.addAll(USUAL);
        for (String d : dirs) {
            Path p = Path.of(d, name);
            if (isExecutableFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** What to run for {@code name}: the executable {@link #find} finds, else {@code name} itself (running it then fails). */
    public static String locate(String name) {
        return find(name).map(Path::toString).orElse(name);
    }

    private static boolean isExecutableFile(Path p) {
        return Files.isRegularFile(p) && Files.isExecutable(p);
    }
}
