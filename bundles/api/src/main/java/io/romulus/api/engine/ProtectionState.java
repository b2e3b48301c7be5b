package io.romulus.api.engine;

/** Where one domain's protection stands. */
public enum ProtectionState {
    /** Primary: connecting to the backup. Backup: waiting for the first HELLO. */
    CONNECTING,
    /** Initial full copy under way (progress in the status). */
    SYNCING,
    /** Checkpoints flow and are acknowledged; output is released on ACK. */
    PROTECTED,
    /** Primary: the backup or the link is gone; output is held while the engine reconnects. */
    DEGRADED,
    /** Primary: running without a backup after the link timeout; output passes through; an alarm is raised. */
    UNPROTECTED,
    /** Backup: the replica holds a committed epoch; no stream is connected. */
    STANDBY,
    /** Backup: the replica was activated and the domain runs here. */
    ACTIVATED,
    /**
     * Primary: another node took this domain over (its backup activated the replica); this node's copy was stopped
     * without releasing the output it held (invariant I5).
     */
    FENCED,
    /** Protection stopped on an error; the status line says which. */
    FAILED,
    /** Protection was stopped by the operator. */
    STOPPED
}
