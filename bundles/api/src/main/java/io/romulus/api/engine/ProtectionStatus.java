package io.romulus.api.engine;

/**
 * One line of {@code romulus:status}.
 *
 * @param domain            {@code binding:name}
 * @param role              this node's role
 * @param state             where protection stands
 * @param epoch             primary: last epoch checkpointed; backup: last epoch committed
 * @param intervalMs        the epoch interval set for the domain
 * @param lastPauseNanos    primary: the last checkpoint's pause
 * @param dirtyPages        primary: dirty pages of the last checkpoint; backup: pages in the last committed epoch
 * @param lagEpochs         primary: checkpoints sent and not yet acknowledged
 * @param peer              the other node's address
 * @param detail            progress of a full copy, or the reason for DEGRADED, UNPROTECTED or FAILED
 * @param currentIntervalMs primary: the interval the epochs run at now, which an adaptive interval moves away from
 *                          the set one (since 1.5); otherwise the set one
 * @param intervalReason    primary: why the interval is what it is ({@code fixed}, {@code at the set interval},
 *                          {@code lengthened: ...}, {@code shortened: ...}) (since 1.5); otherwise empty
 * @param engineCpu         the engine's own CPU time per checkpoint and per second on this node, over the last few
 *                          seconds' checkpoints (since 1.6); {@link EngineCpu#UNKNOWN} where not known
 */
public record ProtectionStatus(String domain, Role role, ProtectionState state, long epoch, int intervalMs,
        long lastPauseNanos, long dirtyPages, long lagEpochs, String peer, String detail, int currentIntervalMs,
        String intervalReason, EngineCpu engineCpu) {

    /** A null {@code engineCpu} is {@link EngineCpu#UNKNOWN}. */
    public ProtectionStatus {
        engineCpu = engineCpu == null ? EngineCpu.UNKNOWN : engineCpu;
    }

    /** A status line whose engine CPU time is not known. */
    public ProtectionStatus(String domain, Role role, ProtectionState state, long epoch, int intervalMs,
            long lastPauseNanos, long dirtyPages, long lagEpochs, String peer, String detail, int currentIntervalMs,
            String intervalReason) {
        this(domain, role, state, epoch, intervalMs, lastPauseNanos, dirtyPages, lagEpochs, peer, detail,
                currentIntervalMs, intervalReason, EngineCpu.UNKNOWN);
    }

    /** A status line whose current interval is the set one, with no reason. */
    public ProtectionStatus(String domain, Role role, ProtectionState state, long epoch, int intervalMs,
            long lastPauseNanos, long dirtyPages, long lagEpochs, String peer, String detail) {
        this(domain, role, state, epoch, intervalMs, lastPauseNanos, dirtyPages, lagEpochs, peer, detail, intervalMs,
                "");
    }
}
