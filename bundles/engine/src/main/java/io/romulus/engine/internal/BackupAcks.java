package io.romulus.engine.internal;

import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointException;

/**
 * The transport's listener for one stream, on a transport thread: its ACKs go to the epoch loop's
 * {@link EpochLoop#acknowledged}, and its end breaks the stream.
 */
final class BackupAcks implements AckListener {

    /** Where the ACKs of a stream go. */
    @FunctionalInterface
    interface Receiver {
        void acknowledged(PrimaryStream s, long epoch);
    }

    private final Receiver receiver;
    private final LoopSignal signal;
    private final Runnable switchoverAsked;
    /** The stream, once the connection is up: set by the loop's thread, read by the transport's. */
    private volatile PrimaryStream stream;

    BackupAcks(Receiver receiver, LoopSignal signal, Runnable switchoverAsked) {
        this.switchoverAsked = switchoverAsked;
        this.receiver = receiver;
        this.signal = signal;
    }

    void stream(PrimaryStream s) {
        stream = s;
    }

    @Override
    public void acknowledged(long epoch) {
        PrimaryStream s = stream;
        if (s == null) {
            signal.signal();
        } else {
            receiver.acknowledged(s, epoch);
        }
    }

    @Override
    public void handOverReady(long epoch) {
        PrimaryStream s = stream;
        if (s != null) {
            s.handOverAnswered(epoch, null);
        }
    }

    @Override
    public void handOverRefused(long epoch, String reason) {
        PrimaryStream s = stream;
        if (s != null) {
            s.handOverAnswered(epoch, reason);
        }
    }

    @Override
    public void handOverRequested() {
        switchoverAsked.run();
    }

    @Override
    public void closed(Throwable cause) {
        PrimaryStream s = stream;
        if (s != null) {
            s.fail(cause != null ? cause : new CheckpointException("the backup ended the stream"));
        }
    }
}
