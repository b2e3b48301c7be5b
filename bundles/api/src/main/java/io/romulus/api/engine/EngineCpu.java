package io.romulus.api.engine;

/**
 * The CPU time the engine's own threads spent on one domain's recent checkpoints, on this node: on the primary the
 * epoch loop and the sender (see {@link EpochStats#cpuNanos()}), on the backup the stream's receiving thread
 * (decrypting and decoding the records, staging the pages, applying and committing the checkpoint, the ACK).
 *
 * @param perCheckpointNanos the median per checkpoint, or -1 while none is known
 * @param perSecondNanos     the total per second of wall-clock time, or -1 while none is known
 * @param checkpoints        how many checkpoints the figures are taken over (the last few seconds' ones)
 * @since 1.6
 */
public record EngineCpu(long perCheckpointNanos, long perSecondNanos, int checkpoints) {

    /** Nothing known: no checkpoint yet, or a JVM that cannot tell a thread's CPU time. */
    public static final EngineCpu UNKNOWN = new EngineCpu(-1, -1, 0);

    /** Whether any checkpoint's CPU time is known. */
    public boolean known() {
        return checkpoints > 0 && perCheckpointNanos >= 0;
    }
}
