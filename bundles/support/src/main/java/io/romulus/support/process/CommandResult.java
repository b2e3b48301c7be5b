package io.romulus.support.process;

import java.util.List;

/**
 * How a command ended and what it printed.
 *
 * @param argv the command line
 * @param exit its exit code
 * @param out  what it printed on stdout (and on stderr too when they were merged)
 * @param err  what it printed on stderr (empty when merged into {@code out})
 */
public record CommandResult(List<String> argv, int exit, String out, String err) {

    public CommandResult {
        argv = List.copyOf(argv);
    }

    public boolean ok() {
        return exit == 0;
    }

    /** {@code argv exited with N: what it said} (stderr, else stdout), for messages. */
    public String describe() {
        String why = err.isBlank() ? out.strip() : err.strip();
        return String.join(" ", argv) + " exited with " + exit + (why.isEmpty() ? "" : ": " + why);
    }
}
