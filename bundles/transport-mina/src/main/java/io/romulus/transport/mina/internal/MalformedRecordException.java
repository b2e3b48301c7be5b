package io.romulus.transport.mina.internal;

import io.romulus.api.transport.CheckpointException;

/** The peer sent something that is not a valid record, or not at this point of the protocol. */
public class MalformedRecordException extends CheckpointException {

    private static final long serialVersionUID = 1L;

    public MalformedRecordException(String message) {
        super(message);
    }

    public MalformedRecordException(String message, Throwable cause) {
        super(message, cause);
    }
}
