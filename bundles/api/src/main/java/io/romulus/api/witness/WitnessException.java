package io.romulus.api.witness;

import java.io.IOException;

/** The witness could not answer (unreachable, session not established, timed out): the answer is unknown. */
public class WitnessException extends IOException {

    private static final long serialVersionUID = 1L;

    public WitnessException(String message) {
        super(message);
    }

    public WitnessException(String message, Throwable cause) {
        super(message, cause);
    }
}
