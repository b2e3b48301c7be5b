package io.romulus.engine.internal;

/**
 * The engine's tunables, as plain values, so that the engine runs with or without OSGi configuration.
 *
 * @param nodeId              this node's identity in HELLO records and status lines
 * @param intervalMs          default epoch interval
 * @param minIntervalMs       lower bound of an interval the operator may set
 * @param maxIntervalMs       upper bound of an interval the operator may set
 * @param historySize         epochs kept per domain for {@code romulus:epochs}
 * @param linkTimeoutMs       how long output stays held after the backup or the link is lost, before the primary
 *                            releases it and runs unprotected (invariant I4)
 * @param reconnectDelayMs    pause between reconnection attempts to a lost backup
 * @param maxInflightEpochs   checkpoints sent and not yet acknowledged before the epoch loop waits (the VM keeps
 *                            running; the epoch gets longer)
 * @param initialCopyBatch    pages per batch of the initial full copy
 * @param failoverMode        what a backup does when the failure detector convicts its primary
 * @param peerHeartbeatPort   the UDP heartbeat port of a backup when {@code romulus:protect} names none
 * @param reprotect           after activating a replica, protect the domain back towards the old primary's node
 *                            (it runs unprotected until that node answers as the new backup)
 * @param handoverGraceMs     how long a backup holds back automatic failover after its primary stopped the stream
 *                            for an update of its own (engine or transport bundle, a refresh)
 * @param intervalPolicy      whether the interval adapts ({@link AdaptiveInterval}) and within which bounds
 */
public record EngineSettings(String nodeId, int intervalMs, int minIntervalMs, int maxIntervalMs, int historySize,
        long linkTimeoutMs, long reconnectDelayMs, int maxInflightEpochs, int initialCopyBatch,
        FailoverMode failoverMode, int peerHeartbeatPort, boolean reprotect, long handoverGraceMs,
        IntervalPolicy intervalPolicy) {

    /**
     * The interval's mode and the bounds an adaptive interval stays within (widened to include the set interval).
     *
     * @param adaptive {@code interval.mode = adaptive}; fixed otherwise
     * @param minMs    {@code interval.adaptive.min.ms}
     * @param maxMs    {@code interval.adaptive.max.ms}
     */
    public record IntervalPolicy(boolean adaptive, int minMs, int maxMs) {

        /** The configuration's default: adaptive between 10 and 200 ms. */
        public static final IntervalPolicy DEFAULT = new IntervalPolicy(true, 10, 200);
        /** The set interval, always. */
        public static final IntervalPolicy FIXED = new IntervalPolicy(false, 10, 200);

        public IntervalPolicy {
            if (minMs < 1 || maxMs < minMs) {
                throw new IllegalArgumentException("adaptive interval bounds must satisfy 1 <= "
                        + "interval.adaptive.min.ms <= interval.adaptive.max.ms");
            }
        }

        /** {@code adaptive} or {@code fixed}, with a message naming both. */
        public static boolean parseMode(String text) {
            String mode = text == null ? "" : text.strip().toLowerCase(java.util.Locale.ROOT);
            return switch (mode) {
                case "adaptive" -> true;
                case "fixed" -> false;
                default -> throw new IllegalArgumentException("interval.mode is adaptive or fixed, not '" + text
                        + "'");
            };
        }
    }

    /** Settings with a fixed interval. */
    public EngineSettings(String nodeId, int intervalMs, int minIntervalMs, int maxIntervalMs, int historySize,
            long linkTimeoutMs, long reconnectDelayMs, int maxInflightEpochs, int initialCopyBatch,
            FailoverMode failoverMode, int peerHeartbeatPort, boolean reprotect, long handoverGraceMs) {
        this(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs, reconnectDelayMs,
                maxInflightEpochs, initialCopyBatch, failoverMode, peerHeartbeatPort, reprotect, handoverGraceMs,
                IntervalPolicy.FIXED);
    }

    /** The default grace after a primary's planned stop: long enough for a Karaf refresh of its bundles. */
    public static final long DEFAULT_HANDOVER_GRACE_MS = 10_000;

    /** Settings with a fixed interval and the default grace. */
    public EngineSettings(String nodeId, int intervalMs, int minIntervalMs, int maxIntervalMs, int historySize,
            long linkTimeoutMs, long reconnectDelayMs, int maxInflightEpochs, int initialCopyBatch,
            FailoverMode failoverMode, int peerHeartbeatPort, boolean reprotect) {
        this(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs, reconnectDelayMs,
                maxInflightEpochs, initialCopyBatch, failoverMode, peerHeartbeatPort, reprotect,
                DEFAULT_HANDOVER_GRACE_MS);
    }

    /** What a backup does when its primary is convicted (ARCHITECTURE.md section 6). */
    public enum FailoverMode {
        /**
         * Activate the replica. With a witness, only once the backup holds the domain's lease; without one, at once,
         * which risks two running copies if the primary is alive but cut off (split brain).
         */
        AUTOMATIC,
        /** Raise an alarm and wait for the operator's {@code romulus:failover}. */
        MANUAL;

        /** Parses {@code automatic} or {@code manual}, with a message naming both. */
        public static FailoverMode parse(String text) {
            try {
                return valueOf(text.strip().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new IllegalArgumentException("failover.mode is automatic or manual, not '" + text + "'");
            }
        }
    }

    public EngineSettings {
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("node.id must not be empty");
        }
        if (minIntervalMs < 1 || maxIntervalMs < minIntervalMs) {
            throw new IllegalArgumentException("interval bounds must satisfy 1 <= interval.min.ms <= interval.max.ms");
        }
        checkInterval(intervalMs, minIntervalMs, maxIntervalMs);
        if (historySize < 1) {
            throw new IllegalArgumentException("history.size must be at least 1, not " + historySize);
        }
        if (linkTimeoutMs < 0 || reconnectDelayMs < 1) {
            throw new IllegalArgumentException("link.timeout.ms must be >= 0 and reconnect.delay.ms >= 1");
        }
        if (maxInflightEpochs < 1) {
            throw new IllegalArgumentException("max.inflight.epochs must be at least 1, not " + maxInflightEpochs);
        }
        if (initialCopyBatch < 1) {
            throw new IllegalArgumentException("initial.copy.batch must be at least 1, not " + initialCopyBatch);
        }
        java.util.Objects.requireNonNull(failoverMode, "failoverMode");
        java.util.Objects.requireNonNull(intervalPolicy, "intervalPolicy");
        if (peerHeartbeatPort < 1 || peerHeartbeatPort > 65535) {
            throw new IllegalArgumentException("peer.heartbeat.port must be in 1-65535, not " + peerHeartbeatPort);
        }
    }

    /**
     * Defaults: 25 ms epochs (40 Hz), adaptive between 10 and 200 ms, 1024 epochs of history, 3 s link timeout,
     * automatic failover.
     */
    public static EngineSettings defaults(String nodeId) {
        return new EngineSettings(nodeId, 25, 1, 10_000, 1024, 3000, 250, 4, 256, FailoverMode.AUTOMATIC, 7490, true,
                DEFAULT_HANDOVER_GRACE_MS, IntervalPolicy.DEFAULT);
    }

    /** A copy with another interval mode and bounds. */
    public EngineSettings withIntervalPolicy(IntervalPolicy policy) {
        return new EngineSettings(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs,
                reconnectDelayMs, maxInflightEpochs, initialCopyBatch, failoverMode, peerHeartbeatPort, reprotect,
                handoverGraceMs, policy);
    }

    /** A copy with another default interval. */
    public EngineSettings withInterval(int ms) {
        return new EngineSettings(nodeId, ms, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs,
                reconnectDelayMs, maxInflightEpochs, initialCopyBatch, failoverMode, peerHeartbeatPort, reprotect, handoverGraceMs, intervalPolicy);
    }

    /** A copy with another link timeout. */
    public EngineSettings withLinkTimeout(long ms) {
        return new EngineSettings(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, ms,
                reconnectDelayMs, maxInflightEpochs, initialCopyBatch, failoverMode, peerHeartbeatPort, reprotect, handoverGraceMs, intervalPolicy);
    }

    /** A copy with another failover mode. */
    public EngineSettings withFailoverMode(FailoverMode mode) {
        return new EngineSettings(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs,
                reconnectDelayMs, maxInflightEpochs, initialCopyBatch, mode, peerHeartbeatPort, reprotect, handoverGraceMs, intervalPolicy);
    }

    /** A copy that does, or does not, protect an activated domain back towards the old primary. */
    public EngineSettings withReprotect(boolean on) {
        return new EngineSettings(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs,
                reconnectDelayMs, maxInflightEpochs, initialCopyBatch, failoverMode, peerHeartbeatPort, on, handoverGraceMs, intervalPolicy);
    }

    /** A copy with another default heartbeat port of backups. */
    public EngineSettings withPeerHeartbeatPort(int port) {
        return new EngineSettings(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs,
                reconnectDelayMs, maxInflightEpochs, initialCopyBatch, failoverMode, port, reprotect, handoverGraceMs, intervalPolicy);
    }

    /** A copy with another grace after a primary's planned stop. */
    public EngineSettings withHandoverGrace(long ms) {
        return new EngineSettings(nodeId, intervalMs, minIntervalMs, maxIntervalMs, historySize, linkTimeoutMs,
                reconnectDelayMs, maxInflightEpochs, initialCopyBatch, failoverMode, peerHeartbeatPort, reprotect, ms, intervalPolicy);
    }

    int checkInterval(int ms) {
        return checkInterval(ms, minIntervalMs, maxIntervalMs);
    }

    private static int checkInterval(int ms, int min, int max) {
        if (ms < min || ms > max) {
            throw new IllegalArgumentException("the epoch interval must be between " + min + " and " + max
                    + " ms, not " + ms);
        }
        return ms;
    }
}
