package io.romulus.api.engine;

/**
 * One line of {@code romulus:status}.
 *
 * @param domain         {@code binding:name}
 * @param role           this node's role
 * @param state          where protection stands
 * @param epoch          primary: last epoch checkpointed; backup: last epoch committed
 * @param intervalMs     epoch interval
 * @param lastPauseNanos primary: the last checkpoint's pause
 * @param dirtyPages     primary: dirty pages of the last checkpoint; backup: pages in the last committed epoch
 * @param lagEpochs      primary: checkpoints sent and not yet acknowledged
 * @param peer           the other node's address
 * @param detail         progress of a full copy, or the reason for DEGRADED, UNPROTECTED or FAILED
 */
public record ProtectionStatus(String domain, Role role, ProtectionState state, long epoch, int intervalMs,
        long lastPauseNanos, long dirtyPages, long lagEpochs, String peer, String detail) {
}
