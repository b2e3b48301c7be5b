package io.romulus.engine.internal;

/** Another node runs the domain now: this node must stop its copy without releasing output (I5). */
final class FencedException extends Exception {

    private static final long serialVersionUID = 1L;

    FencedException(String message) {
        super(message);
    }
}
