package io.romulus.support.process;

import java.io.IOException;
import java.util.List;

/** A command could not be started, or did not finish in time and was killed. */
public final class CommandException extends IOException {

    private static final long serialVersionUID = 1L;

    /** Why the command has no result. */
    public enum Reason {
        /** It could not be started (no such executable, not allowed). */
        NOT_STARTED,
        /** It ran past its timeout and was killed. */
        TIMED_OUT
    }

    private final Reason reason;
    private final List<String> argv;
    private final String err;

    CommandException(Reason reason, List<String> argv, String err, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.argv = List.copyOf(argv);
        this.err = err;
    }

    public Reason reason() {
        return reason;
    }

    public List<String> argv() {
        return argv;
    }

    /** What it printed on stderr before it was killed (empty when it did not start or stderr was merged). */
    public String err() {
        return err;
    }
}
