package io.romulus.api.transport;

/**
 * The backup's answer to a {@link Hello}.
 *
 * @param nodeId         the backup node's identity
 * @param committedEpoch the last epoch the backup holds for this domain from a previous stream, or {@code -1}
 * @param resumedFrom    when the primary asked to resume its previous stream and the backup agreed: the committed
 *                       epoch of the replica that the new stream continues (its first checkpoint carries every page
 *                       written since that epoch, no initial copy); {@code -1} when the stream starts with an initial
 *                       full copy. Since 1.4.
 */
public record HelloReply(String nodeId, long committedEpoch, long resumedFrom) {

    /** A reply to a stream that starts with an initial full copy. */
    public HelloReply(String nodeId, long committedEpoch) {
        this(nodeId, committedEpoch, -1);
    }

    /** Whether the stream continues the backup's replica instead of starting with an initial copy. */
    public boolean resumed() {
        return resumedFrom >= 0;
    }
}
