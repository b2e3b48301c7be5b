package io.romulus.drbd.internal;

import java.util.List;
import java.util.Locale;

/**
 * A DRBD tool failed: the command line, its exit code (or -1 when it did not run or timed out) and what it said on
 * stderr. {@link #moduleMissing()} recognises drbd-utils 9's complaints about a missing kernel module.
 */
public final class DrbdCommandException extends Exception {

    private static final long serialVersionUID = 1L;

    /** drbdsetup's exit code for "could not talk to the kernel" (modprobe failed, no generic netlink family). */
    public static final int EXIT_NO_KERNEL = 20;

    private final List<String> argv;
    private final int exit;
    private final String stderr;

    public DrbdCommandException(String message, List<String> argv, int exit, String stderr, Throwable cause) {
        super(message, cause);
        this.argv = List.copyOf(argv);
        this.exit = exit;
        this.stderr = stderr == null ? "" : stderr;
    }

    /** {@code argv} exited with {@code r.exit()}. */
    public static DrbdCommandException failed(String what, CommandRunner.Result r) {
        String why = r.err().isBlank() ? r.out().strip() : r.err().strip();
        return new DrbdCommandException("cannot " + what + ": " + String.join(" ", r.argv()) + " exited with "
                + r.exit() + (why.isEmpty() ? "" : ": " + why.replace('\n', ' ')), r.argv(), r.exit(), r.err(), null);
    }

    public List<String> argv() {
        return argv;
    }

    public int exit() {
        return exit;
    }

    public String stderr() {
        return stderr;
    }

    /**
     * Whether the tool failed because the DRBD kernel module is not loaded and could not be loaded: drbdsetup stats
     * {@code /proc/drbd}, runs {@code modprobe drbd} when it is missing and says "Failed to modprobe drbd" or
     * "Could not stat /proc/drbd" (exit 20), or "Could not connect to 'drbd' generic netlink family".
     */
    public boolean moduleMissing() {
        return moduleMissing(stderr);
    }

    static boolean moduleMissing(String stderr) {
        String s = stderr.toLowerCase(Locale.ROOT);
        return s.contains("failed to modprobe drbd") || s.contains("could not stat /proc/drbd")
                || s.contains("module drbd not found")
                || s.contains("could not connect to 'drbd' generic netlink family");
    }
}
