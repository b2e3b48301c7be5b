package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.EpochTransfer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One stream to the backup: the channel, its sender thread, its two staging buffers, and what the loop knows of the
 * backup's progress on it. The sender streams checkpoint N while the domain already runs N+1; the staging buffers
 * alternate, so checkpoint N+2 waits for the sending of N.
 */
final class PrimaryStream {

    private static final Logger LOG = LoggerFactory.getLogger(PrimaryStream.class);

    private final DomainId id;
    final CheckpointChannel channel;
    private final StagingBuffer[] staging;
    private final ExecutorService sender;
    private final EpochHistory history;
    private final LoopSignal signal;

    // published lock-free by the ACK thread and the sender to the loop, which re-reads them after every wake-up

    /** The last sign of the backup's progress: the stream's start, the initial copy's end and its ACK, an ACK. */
    private volatile long progressNanos = System.nanoTime();
    /**
     * Whether the backup acknowledged a checkpoint on this stream; the initial copy's ACK does not count (the backup
     * commits the copy only with the first checkpoint after it: see {@link EpochLoop#acknowledged}).
     */
    private volatile boolean acked;
    /** The epoch of the initial copy (resumed: the last checkpoint before the stream), whose ACK releases nothing. */
    private volatile long initialEpoch = Long.MAX_VALUE;
    /** The last checkpoint the sender finished sending. */
    private volatile long sentThrough = -1;
    /** The last checkpoint handed to the sender. */
    private volatile long handedThrough = -1;

    /** The backup's answer to a hand-over: null until it came, empty when it is ready, else why it refused. */
    private volatile String handOverAnswer;
    /** The checkpoint {@link #handOverAnswer} answers (written after it, read before it). */
    private volatile long handOverAnswered = -1;

    // the loop's own

    /** The committed epoch the backup resumed this stream from, or -1 when it starts with an initial copy. */
    private long resumedFrom = -1;
    /** What the stream had written when progress was last judged by bytes. */
    private long bytesOut;
    /** Pages and disk writes of unacknowledged checkpoints that the first checkpoint of a resumed stream carries. */
    private long[] resendPages;
    private List<List<DiskWrite>> resendWrites;

    @GuardedBy("this")
    private Throwable failure;
    @GuardedBy("this")
    private boolean closing;

    /** @param segmentBytes the size of a staging segment ({@link StagingBuffer#DEFAULT_SEGMENT_BYTES}; tests lower it) */
    PrimaryStream(DomainId id, CheckpointChannel channel, int pageSize, long segmentBytes, EpochHistory history,
            LoopSignal signal) {
        this.id = id;
        this.channel = channel;
        this.history = history;
        this.signal = signal;
        this.staging = new StagingBuffer[] {new StagingBuffer(pageSize, 64, segmentBytes),
            new StagingBuffer(pageSize, 64, segmentBytes)};
        this.sender = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "romulus-sender-" + id);
            t.setDaemon(true);
            return t;
        });
    }

    /** The staging buffer of {@code epoch}: two alternate. */
    StagingBuffer staging(long epoch) {
        return staging[(int) (epoch & 1)];
    }

    long initialEpoch() {
        return initialEpoch;
    }

    void initialEpoch(long epoch) {
        initialEpoch = epoch;
    }

    long sentThrough() {
        return sentThrough;
    }

    /** Whether the sender is still sending a checkpoint (a large one takes a while on a slow link). */
    boolean sending() {
        return sentThrough < handedThrough;
    }

    long resumedFrom() {
        return resumedFrom;
    }

    void resumedFrom(long epoch) {
        resumedFrom = epoch;
    }

    /**
     * The backup showed progress now (the initial copy went out, or the copy's ACK or another came). The copy's ACK
     * is progress and not the stream's first {@link #acknowledged}: the backup commits the copy only with the first
     * checkpoint after it (all of RAM written, all of the disk synced), which may take longer than an established
     * stream's silence is allowed; counted as acknowledged, such a backup was taken for lost, and every retry was a
     * new full copy.
     */
    void progressed() {
        progressNanos = System.nanoTime();
    }

    /** An ACK came on this stream. */
    void acknowledged() {
        progressNanos = System.nanoTime();
        acked = true;
    }

    long progressNanos() {
        return progressNanos;
    }

    boolean acked() {
        return acked;
    }

    long bytesOut() {
        return bytesOut;
    }

    /** The stream wrote {@code bytes} so far, which counts as progress while nothing was acknowledged. */
    void bytesOut(long bytes) {
        bytesOut = bytes;
        progressNanos = System.nanoTime();
    }

    /** What the first checkpoint of a resumed stream carries again. */
    void resend(long[] pages, List<List<DiskWrite>> writes) {
        resendPages = pages;
        resendWrites = writes;
    }

    /** {@code harvested} (ascending) and, once, the pages to send again: the pages of this checkpoint, ascending. */
    long[] withResendPages(long[] harvested) {
        long[] again = resendPages;
        resendPages = null;
        return again == null ? harvested : union(harvested, again);
    }

    /**
     * Per disk, once, the writes to send again and then {@code writes}, this checkpoint's; {@code writes} as they are
     * when there are none to send again, or no disks.
     */
    List<List<DiskWrite>> withResendWrites(List<List<DiskWrite>> writes) {
        if (writes.isEmpty() || resendWrites == null) {
            return writes;
        }
        List<List<DiskWrite>> again = resendWrites;
        resendWrites = null;
        List<List<DiskWrite>> all = new ArrayList<>();
        for (int i = 0; i < writes.size(); i++) {
            List<DiskWrite> w = new ArrayList<>(i < again.size() ? again.get(i) : List.of());
            w.addAll(writes.get(i));
            all.add(w);
        }
        return all;
    }

    /** The union of two ascending page lists, ascending. */
    static long[] union(long[] a, long[] b) {
        long[] out = new long[a.length + b.length];
        int i = 0;
        int j = 0;
        int n = 0;
        while (i < a.length || j < b.length) {
            long next;
            if (j >= b.length || (i < a.length && a[i] <= b[j])) {
                next = a[i++];
            } else {
                next = b[j++];
            }
            if (n == 0 || out[n - 1] != next) {
                out[n++] = next;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** The backup answered the hand-over at {@code epoch}: ready ({@code refusal} null) or not, and why. */
    void handOverAnswered(long epoch, String refusal) {
        handOverAnswer = refusal == null ? "" : refusal;
        handOverAnswered = epoch;
        signal.signal();
    }

    /** The backup's answer to the hand-over at {@code epoch}: null while none came, empty when it is ready. */
    String handOverAnswer(long epoch) {
        return handOverAnswered == epoch ? handOverAnswer : null;
    }

    /** Throws when the stream broke (the sender failed, the backup closed it). */
    void check() throws LinkLostException {
        Throwable f;
        synchronized (this) {
            f = failure;
        }
        if (f != null) {
            throw new LinkLostException(f.getMessage() == null ? f.toString() : f.getMessage(), f);
        }
    }

    synchronized boolean failed() {
        return failure != null;
    }

    /** Sends on the loop's thread (the initial copy); a failure breaks the stream. */
    <T> T send(Send<T> op) throws InterruptedException, LinkLostException {
        try {
            return op.run();
        } catch (CheckpointException e) {
            fail(e);
            throw new LinkLostException(e.getMessage(), e);
        }
    }

    /** Hands checkpoint {@code epoch} to the sender thread: pages, device state, disk writes, end. */
    void sendAsync(long epoch, StagingBuffer buffer, byte[] deviceState, List<List<DiskWrite>> diskWrites) {
        handedThrough = epoch;
        sender.execute(() -> {
            long cpu = ThreadCpu.now();
            try {
                for (int i = 0; i < buffer.segmentCount(); i++) {
                    channel.sendPages(epoch, buffer.pfns(), buffer.segmentFrom(i), buffer.segmentPageCount(i),
                            buffer.pages(i));
                }
                channel.sendDeviceState(epoch, deviceState);
                for (int i = 0; i < diskWrites.size(); i++) {
                    if (!diskWrites.get(i).isEmpty()) {
                        channel.sendDiskWrites(epoch, i, diskWrites.get(i));
                    }
                }
                EpochTransfer t = channel.endEpoch(epoch, false);
                history.transferred(epoch, t.rawBytes(), t.wireBytes(), ThreadCpu.since(cpu));
                sentThrough = epoch;
                signal.signal();
            } catch (CheckpointException e) {
                fail(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail(new CheckpointException("sending interrupted"));
            } catch (RuntimeException e) {
                LOG.error("Sending epoch {} of {} failed", epoch, id, e);
                fail(e);
            }
        });
    }

    /** The stream broke: the first cause counts, and none once it is being closed. */
    void fail(Throwable cause) {
        synchronized (this) {
            if (failure == null && !closing) {
                failure = cause;
            }
        }
        signal.signal();
    }

    void close() {
        close(null);
    }

    /** Closes with an ERROR marked as a planned stop: the backup keeps its replica and holds back failover. */
    void closePlanned(String reason) {
        stopSender();
        channel.stopPlanned(reason);
        awaitSender();
    }

    /** Closes with GOODBYE, or with an ERROR carrying {@code abortReason} when that is not null. */
    void close(String abortReason) {
        stopSender();
        if (abortReason == null) {
            channel.close();
        } else {
            channel.abort(abortReason);
        }
        awaitSender();
    }

    private void stopSender() {
        synchronized (this) {
            closing = true;
        }
        sender.shutdownNow();
    }

    private void awaitSender() {
        try {
            if (!sender.awaitTermination(5, TimeUnit.SECONDS)) {
                LOG.debug("The sender of {} did not end within 5 s", id);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One send on the loop's thread. */
    @FunctionalInterface
    interface Send<T> {
        T run() throws CheckpointException, InterruptedException;
    }
}
