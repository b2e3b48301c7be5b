package io.romulus.api.transport;

import java.io.IOException;

/** The checkpoint stream failed: connection lost, peer refused, authentication failed, malformed input. */
public class CheckpointException extends IOException {

    private static final long serialVersionUID = 1L;

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
