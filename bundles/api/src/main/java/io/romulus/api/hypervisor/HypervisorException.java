package io.romulus.api.hypervisor;

/** A binding could not do what was asked; the message says what and why, in the operator's words. */
public class HypervisorException extends Exception {

    private static final long serialVersionUID = 1L;

    public HypervisorException(String message) {
        super(message);
    }

    public HypervisorException(String message, Throwable cause) {
        super(message, cause);
    }
}
