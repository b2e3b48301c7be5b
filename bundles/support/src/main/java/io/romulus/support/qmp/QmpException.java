package io.romulus.support.qmp;

import java.io.IOException;

/** QEMU answered a command with an error, or the QMP connection failed. */
public class QmpException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String errorClass;

    public QmpException(String message) {
        this(null, message, null);
    }

    public QmpException(String message, Throwable cause) {
        this(null, message, cause);
    }

    QmpException(String errorClass, String message, Throwable cause) {
        super(message, cause);
        this.errorClass = errorClass;
    }

    /** QEMU's error class ({@code GenericError}, {@code CommandNotFound}, ...), or {@code null} for I/O failures. */
    public String errorClass() {
        return errorClass;
    }
}
