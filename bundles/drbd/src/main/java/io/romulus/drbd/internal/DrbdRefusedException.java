package io.romulus.drbd.internal;

/**
 * The DRBD coordinator refuses to protect (or activate) a disk: the resource is missing, in the wrong role, not
 * connected or not in sync, or its configuration cannot keep the backup's disk consistent with a committed epoch.
 * The message says which, and what to change.
 */
public final class DrbdRefusedException extends Exception {

    private static final long serialVersionUID = 1L;

    public DrbdRefusedException(String message) {
        super(message);
    }

    public DrbdRefusedException(String message, Throwable cause) {
        super(message, cause);
    }
}
