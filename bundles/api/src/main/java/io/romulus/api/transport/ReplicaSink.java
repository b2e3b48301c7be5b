package io.romulus.api.transport;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.InboundFrame;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Backup side of one checkpoint stream: where the transport delivers decoded records, in stream order, from one
 * thread. The transport sends ACK(epoch) after {@link #epochEnd(EpochEnd)} returns normally and never otherwise.
 */
@ConsumerType
public interface ReplicaSink {

    /** Decoded pages of {@code epoch}: {@code count} pages from {@code pages}' position, in {@code pfns} order. */
    void pages(long epoch, long[] pfns, int count, ByteBuffer pages) throws CheckpointException;

    /**
     * Decoded disk writes of {@code epoch} to disk {@code disk} (its index in the HELLO's disk list). The default
     * refuses them: a sink that takes no disk writes ends the stream rather than lose them.
     */
    default void diskWrites(long epoch, int disk, List<DiskWrite> writes) throws CheckpointException {
        throw new CheckpointException("this backup takes no disk writes (epoch " + epoch + ", disk " + disk + ")");
    }

    /** The device state of {@code epoch}. */
    void deviceState(long epoch, byte[] state) throws CheckpointException;

    /**
     * The epoch is complete and its checksum was verified by the transport: apply it atomically, then return.
     * Throwing refuses the epoch: no ACK is sent and the connection is closed.
     */
    void epochEnd(EpochEnd end) throws CheckpointException;

    /**
     * The stream ended; anything staged for an epoch without a verified end must be discarded.
     *
     * @param cause {@code null} after an orderly GOODBYE, otherwise why it ended
     */
    void closed(Throwable cause);

    /**
     * The primary paused the domain at checkpoint {@code epoch}, which this side acknowledged, and asks whether the
     * replica can be activated from exactly it (planned switchover). Returning says yes (the transport answers
     * "ready"); throwing says no, with the exception's message (answered "refused"; the stream goes on). Records of a
     * later epoch cancel the preparation. The default refuses.
     *
     * @since 1.5
     */
    default void prepareHandOver(long epoch) throws CheckpointException {
        throw new CheckpointException("this backup cannot take a domain over");
    }

    /**
     * {@link #prepareHandOver(long)}, answered when the returned stage completes: normally for "ready" (the replica
     * can take the domain over from {@code epoch}, and what it prepared for that has gone far enough, e.g. the
     * guest's addresses moved to this host), exceptionally for "refused" with the cause's message. The transport calls
     * this one, on the stream's thread, and answers from whichever thread completes the stage, without waiting for
     * it; records of a later epoch may arrive before it completes (the primary gave up), and a late answer is then
     * sent all the same (the primary ignores an answer to a hand-over it no longer waits for). The default calls
     * {@link #prepareHandOver(long)} and is complete when it returns.
     *
     * @since 1.7
     */
    default CompletionStage<Void> prepareHandOverAsync(long epoch) {
        try {
            prepareHandOver(epoch);
            return CompletableFuture.completedFuture(null);
        } catch (CheckpointException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * The primary's copy of the domain stopped for good at checkpoint {@code epoch}, which this side prepared: the
     * replica is to be activated from it. The stream ends after this call ({@link #closed(Throwable)} follows with a
     * cause, which does not drop the replica). Must not block the transport for long.
     *
     * @since 1.5
     */
    default void handOver(long epoch) {
    }

    /**
     * {@link #handOver(long)}, with the frames that reached the primary's copy while it was paused for good (planned
     * switchover), in order, for the domain activated here
     * ({@link io.romulus.api.hypervisor.ProtectedDomain#deliverInbound}).
     * The transport calls this one; the default drops the frames and calls {@link #handOver(long)}.
     *
     * @since 1.6
     */
    default void handOver(long epoch, List<InboundFrame> frames) {
        handOver(epoch);
    }

    /**
     * Asked by the transport after each {@link #epochEnd(EpochEnd)}: true makes that epoch's ACK ask the primary for a
     * planned switchover to this node (the operator ran it here). Answers true at most once per operator's request.
     * The default never asks.
     *
     * @since 1.5
     */
    default boolean handOverWanted() {
        return false;
    }
}
