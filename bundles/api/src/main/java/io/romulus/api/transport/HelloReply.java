package io.romulus.api.transport;

/**
 * The backup's answer to a {@link Hello}.
 *
 * @param nodeId         the backup node's identity
 * @param committedEpoch the last epoch the backup holds for this domain from a previous stream, or {@code -1}
 */
public record HelloReply(String nodeId, long committedEpoch) {
}
