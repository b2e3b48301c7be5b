package io.romulus.api.transport;

import java.nio.ByteBuffer;
import java.util.List;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.InboundFrame;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Primary side of one checkpoint stream to one backup, for one domain. One thread sends; sends block while the
 * connection's outgoing queue is over its limit (backpressure), so a slow backup cannot grow the primary's memory
 * without bound.
 */
@ProviderType
public interface CheckpointChannel extends AutoCloseable {

    /** The backup's answer to the HELLO. */
    HelloReply peer();

    /**
     * Sends pages {@code pfns[from..from+count)} whose data is in {@code pages} from its position, {@code pageSize}
     * bytes each. Returns once the data has been encoded and queued; {@code pages} may then be reused.
     */
    void sendPages(long epoch, long[] pfns, int from, int count, ByteBuffer pages)
            throws CheckpointException, InterruptedException;

    /**
     * Sends writes to disk {@code disk} (its index in the domain's {@code disks()}) that belong to {@code epoch}: the
     * chunks of the initial copy in epoch 0, the guest's writes of a checkpoint afterwards. They count in EPOCH_END's
     * disk write count and checksum.
     */
    void sendDiskWrites(long epoch, int disk, List<DiskWrite> writes)
            throws CheckpointException, InterruptedException;

    /** Sends the device state of {@code epoch}. */
    void sendDeviceState(long epoch, byte[] state) throws CheckpointException, InterruptedException;

    /**
     * Ends {@code epoch}: the transport sends EPOCH_END with the counts and the checksum of what was sent for it.
     *
     * @param initial whether this ends the initial full copy
     * @return what the epoch cost on the wire
     */
    EpochTransfer endEpoch(long epoch, boolean initial) throws CheckpointException, InterruptedException;

    /** Whether the connection is still up. */
    boolean isOpen();

    /**
     * Sends GOODBYE and closes: protection ended in order, and the backup may drop its replica.
     */
    @Override
    void close();

    /**
     * Sends ERROR with {@code reason} and closes: protection broke down on this side (for example the domain is gone),
     * so the backup keeps its last committed replica for a failover.
     */
    void abort(String reason);

    /**
     * Sends ERROR with {@code reason}, marked as a planned stop, and closes: a part of this node is being updated or
     * restarted and the stream resumes shortly; the backup keeps its replica and sees a {@link PlannedStopException}.
     * The default {@linkplain #abort(String) aborts}.
     *
     * @since 1.4
     */
    default void stopPlanned(String reason) {
        abort(reason);
    }

    /**
     * Planned switchover, first step: the domain is paused at checkpoint {@code epoch}, which the backup acknowledged;
     * asks the backup whether it can activate its replica from exactly that checkpoint. The answer comes to the
     * stream's {@link AckListener} ({@link AckListener#handOverReady} or {@link AckListener#handOverRefused}); the
     * stream goes on either way until {@link #handOver(long)}. The default cannot.
     *
     * @since 1.5
     */
    default void prepareHandOver(long epoch) throws CheckpointException {
        throw new CheckpointException("this checkpoint transport cannot hand a domain over");
    }

    /**
     * Planned switchover, last step: this node's copy of the domain has stopped for good at checkpoint {@code epoch};
     * tells the backup to activate its replica from it, and closes the stream (no GOODBYE: the backup keeps its
     * replica and runs it). Nothing is sent after it. The default cannot.
     *
     * @since 1.5
     */
    default void handOver(long epoch) throws CheckpointException {
        throw new CheckpointException("this checkpoint transport cannot hand a domain over");
    }

    /**
     * {@link #handOver(long)}, carrying {@code frames}, which reached this node's copy of the domain while it was
     * paused for good, to the backup, which gives them to the domain it runs
     * ({@link ReplicaSink#handOver(long, List)}). The default sends the hand-over without them.
     *
     * @since 1.6
     */
    default void handOver(long epoch, List<InboundFrame> frames) throws CheckpointException {
        handOver(epoch);
    }
}
