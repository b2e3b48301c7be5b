package io.romulus.api.management;

import javax.management.MBeanException;

/**
 * {@code io.romulus:type=Protection,domain="binding:name"}: one domain this node protects (primary) or holds a replica
 * of (backup), registered while it does. Every attribute is a scalar that Hawtio's Chart tab can plot. Rates and
 * pause statistics are taken over the checkpoints of the last few seconds; on a backup, which does not see the
 * primary's checkpoint statistics, they are 0 except the checkpoint rate and the engine's own CPU time.
 *
 * @since 2.0
 */
public interface ProtectionMBean {

    /** {@code binding:name}. */
    String getDomain();

    /** {@code PRIMARY} or {@code BACKUP}. */
    String getRole();

    /** Where protection stands ({@code CONNECTING}, {@code SYNCING}, {@code PROTECTED}, ...). */
    String getState();

    /** The other node's address. */
    String getPeer();

    /** Progress of a full copy, or the reason for the state; empty when nothing needs explaining. */
    String getDetail();

    /** Primary: last epoch checkpointed; backup: last epoch committed. */
    long getEpoch();

    double getCheckpointsPerSecond();

    /** The epoch interval; writing it retunes the protection (primary only). */
    int getIntervalMs();

    void setIntervalMs(int intervalMs) throws MBeanException;

    /**
     * Primary: the interval the epochs run at now; an adaptive interval ({@code interval.mode}) moves it away from
     * the set one. Backup: the set one.
     *
     * @since 3.0
     */
    int getCurrentIntervalMs();

    /**
     * Primary: why the current interval is what it is, e.g. {@code fixed}, {@code at the set interval},
     * {@code lengthened: the backup or the link is behind (waited 12.0 ms for ACKs)}; backup: empty.
     *
     * @since 3.0
     */
    String getIntervalReason();

    long getLastPauseMicros();

    double getMeanPauseMicros();

    long getP99PauseMicros();

    double getDirtyPagesPerSecond();

    /** Bytes of checkpoints per second before encoding. */
    double getRawBytesPerSecond();

    /** Bytes of checkpoints per second sent. */
    double getWireBytesPerSecond();

    /** Raw over wire bytes of the recent checkpoints (1 when nothing was sent). */
    double getCompressionRatio();

    /** Mean time from the end of a pause to the backup's ACK, or -1 while none is known. */
    long getAckLatencyMicros();

    /**
     * The engine's own CPU time per checkpoint on this node, µs: the median over the last few seconds' checkpoints, -1
     * while none is known. Primary: the epoch loop's thread and the sender's; backup: the thread that receives the
     * stream (decrypting and decoding its records, staging the pages, applying and committing the checkpoint, the
     * ACK).
     *
     * @since 4.0
     */
    long getEngineCpuMicrosPerCheckpoint();

    /**
     * The engine's own CPU time per second on this node, ms, over the same checkpoints (10 ms a second is 1% of a
     * core); -1 while none is known.
     *
     * @since 4.0
     */
    double getEngineCpuMillisPerSecond();

    /** Checkpoints sent and not yet acknowledged. */
    long getLagEpochs();

    /** Packets the output buffers hold until their checkpoint is acknowledged (output commit). */
    long getOutputHeldPackets();

    long getOutputHeldBytes();

    /** The initial full copy, 0 to 100; 100 once it is done. */
    int getInitialSyncPercent();

    /** The last alarm about this domain, {@code time kind: message}, or empty. */
    String getLastAlarm();

    /** Activates this node's replica of the domain (backup only). */
    String failover() throws MBeanException;

    /** Planned switchover of the domain to its backup, on either node of the pair; returns what happened. */
    String switchover() throws MBeanException;

    /** Stops protecting the domain (primary only). */
    void unprotect() throws MBeanException;
}
