package io.romulus.scaleout.internal.haproxy;

import java.io.IOException;

/**
 * HAProxy's runtime API refused a command. HAProxy answers errors as plain text (for example
 * {@code No such backend.} or {@code Only servers in maintenance mode can be deleted.}); that
 * text is kept as {@link #answer()} and ends the message.
 */
public final class HaproxyException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String command;
    private final String answer;

    HaproxyException(String endpoint, String command, String answer, String hint) {
        super("HAProxy at " + endpoint + " refused `" + command + "`: " + answer
                + (hint == null ? "" : " (" + hint + ")"));
        this.command = command;
        this.answer = answer;
    }

    /** The command HAProxy refused, as sent (without its newline). */
    public String command() {
        return command;
    }

    /** HAProxy's answer, trimmed: its own error message. */
    public String answer() {
        return answer;
    }
}
