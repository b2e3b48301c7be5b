package io.romulus.api.engine;

/**
 * Statistics of one checkpoint on the primary.
 *
 * @param epoch         the epoch
 * @param startedMillis wall-clock time the epoch started running
 * @param runNanos      how long the domain ran in this epoch
 * @param dirtyPages    pages copied in the pause
 * @param pauseNanos    how long the domain was paused
 * @param copyNanos     of which: copying dirty pages to staging
 * @param rawBytes      bytes of the checkpoint before encoding
 * @param wireBytes     bytes sent for it
 * @param ackNanos      from the end of the pause to the backup's ACK, or -1 while not acknowledged
 * @param breakdown     where the pause went (since 1.4); {@link PauseBreakdown#NONE} where it is not known
 */
public record EpochStats(long epoch, long startedMillis, long runNanos, int dirtyPages, long pauseNanos,
        long copyNanos, long rawBytes, long wireBytes, long ackNanos, PauseBreakdown breakdown) {

    /** Statistics without a breakdown of the pause. */
    public EpochStats(long epoch, long startedMillis, long runNanos, int dirtyPages, long pauseNanos, long copyNanos,
            long rawBytes, long wireBytes, long ackNanos) {
        this(epoch, startedMillis, runNanos, dirtyPages, pauseNanos, copyNanos, rawBytes, wireBytes, ackNanos,
                PauseBreakdown.NONE);
    }

    /** Raw over wire bytes. */
    public double compressionRatio() {
        return wireBytes == 0 ? 1.0 : (double) rawBytes / wireBytes;
    }

    public EpochStats withTransfer(long raw, long wire) {
        return new EpochStats(epoch, startedMillis, runNanos, dirtyPages, pauseNanos, copyNanos, raw, wire, ackNanos,
                breakdown);
    }

    public EpochStats withAck(long nanos) {
        return new EpochStats(epoch, startedMillis, runNanos, dirtyPages, pauseNanos, copyNanos, rawBytes, wireBytes,
                nanos, breakdown);
    }
}
