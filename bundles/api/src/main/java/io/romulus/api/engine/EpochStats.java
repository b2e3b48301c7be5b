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
 * @param cpuNanos      CPU time the engine's own threads spent on this checkpoint: the epoch loop's since the previous
 *                      checkpoint and the sender's for this one (since 1.5); -1 where not known
 * @param writeFaults   write-protect faults the guest took in the epoch to have its writes tracked (since 1.5); 0 for
 *                      a tracker that takes none, -1 where not known
 */
public record EpochStats(long epoch, long startedMillis, long runNanos, int dirtyPages, long pauseNanos,
        long copyNanos, long rawBytes, long wireBytes, long ackNanos, PauseBreakdown breakdown, long cpuNanos,
        long writeFaults) {

    /** Statistics without a breakdown of the pause. */
    public EpochStats(long epoch, long startedMillis, long runNanos, int dirtyPages, long pauseNanos, long copyNanos,
            long rawBytes, long wireBytes, long ackNanos) {
        this(epoch, startedMillis, runNanos, dirtyPages, pauseNanos, copyNanos, rawBytes, wireBytes, ackNanos,
                PauseBreakdown.NONE);
    }

    /** Statistics without the engine's CPU time and the write faults. */
    public EpochStats(long epoch, long startedMillis, long runNanos, int dirtyPages, long pauseNanos, long copyNanos,
            long rawBytes, long wireBytes, long ackNanos, PauseBreakdown breakdown) {
        this(epoch, startedMillis, runNanos, dirtyPages, pauseNanos, copyNanos, rawBytes, wireBytes, ackNanos,
                breakdown, -1, -1);
    }

    /** Raw over wire bytes. */
    public double compressionRatio() {
        return wireBytes == 0 ? 1.0 : (double) rawBytes / wireBytes;
    }

    public EpochStats withTransfer(long raw, long wire) {
        return new EpochStats(epoch, startedMillis, runNanos, dirtyPages, pauseNanos, copyNanos, raw, wire, ackNanos,
                breakdown, cpuNanos, writeFaults);
    }

    public EpochStats withAck(long nanos) {
        return new EpochStats(epoch, startedMillis, runNanos, dirtyPages, pauseNanos, copyNanos, rawBytes, wireBytes,
                nanos, breakdown, cpuNanos, writeFaults);
    }
}
