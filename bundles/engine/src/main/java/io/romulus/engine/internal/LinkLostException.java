package io.romulus.engine.internal;

/** The stream to the backup broke; the epoch loop reconnects (ARCHITECTURE.md section 8). */
final class LinkLostException extends Exception {

    private static final long serialVersionUID = 1L;

    LinkLostException(String message) {
        super(message);
    }

    LinkLostException(String message, Throwable cause) {
        super(message, cause);
    }
}
