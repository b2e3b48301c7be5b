package io.romulus.api.transport;

/**
 * The backup refused a stream because it has activated its replica of the domain: it runs the domain now, and the
 * node that asked has lost it. That node must stop its copy without releasing the output it holds (invariant I5).
 */
public class DomainTakenOverException extends CheckpointException {

    private static final long serialVersionUID = 1L;

    public DomainTakenOverException(String message) {
        super(message);
    }
}
