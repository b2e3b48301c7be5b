package io.romulus.api.netbuf;

/** Output commit could not be set up or driven; the message names the missing kernel feature where that is why. */
public class OutputBufferException extends Exception {

    private static final long serialVersionUID = 1L;

    public OutputBufferException(String message) {
        super(message);
    }

    public OutputBufferException(String message, Throwable cause) {
        super(message, cause);
    }
}
