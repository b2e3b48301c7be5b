package io.romulus.api.transport;

/** Primary side: what the backup says back. Called on a transport thread; must not block. */
public interface AckListener {

    /** The backup applied {@code epoch} to its replica. */
    void acknowledged(long epoch);

    /** The stream ended: by a GOODBYE ({@code cause == null}) or by a failure. No more ACKs will come. */
    void closed(Throwable cause);

    /**
     * The backup can activate its replica from checkpoint {@code epoch} (an answer to
     * {@link CheckpointChannel#prepareHandOver(long)}). The default ignores it.
     *
     * @since 1.5
     */
    default void handOverReady(long epoch) {
    }

    /**
     * The backup cannot activate its replica from checkpoint {@code epoch}, for {@code reason}; the stream goes on.
     * The default ignores it.
     *
     * @since 1.5
     */
    default void handOverRefused(long epoch, String reason) {
    }

    /**
     * The backup asks for a planned switchover to itself (its operator ran it there); the primary starts one as if
     * asked here. The default ignores it.
     *
     * @since 1.5
     */
    default void handOverRequested() {
    }
}
