package io.romulus.api.engine;

/** The part this node plays for one domain. */
public enum Role {
    /** Runs the domain and sends checkpoints. */
    PRIMARY,
    /** Holds the replica and acknowledges checkpoints. */
    BACKUP
}
