package io.romulus.support.state;

import java.io.IOException;

/** A state file is not JSON, not of the kind expected, of a format this version does not read, or lacks a field. */
public final class StateFileException extends IOException {

    private static final long serialVersionUID = 1L;

    public StateFileException(String message) {
        super(message);
    }

    public StateFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
