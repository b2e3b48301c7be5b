package io.romulus.api.transport;

/** Primary side: what the backup says back. Called on a transport thread; must not block. */
public interface AckListener {

    /** The backup applied {@code epoch} to its replica. */
    void acknowledged(long epoch);

    /** The stream ended: by a GOODBYE ({@code cause == null}) or by a failure. No more ACKs will come. */
    void closed(Throwable cause);
}
