package io.romulus.engine.internal;

import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointException;

/**
 * The backup's ACKs and the end of one stream, on a transport thread: ACK(N) commits N on the backup, so output N
 * leaves, the disks may forget N's writes, and the protection counts as PROTECTED (again).
 */
final class BackupAcks implements AckListener {

    private final UnackedCheckpoints ledger;
    private final OutputCommit outputs;
    private final EpochHistory history;
    private final BackupHeartbeats heartbeats;
    private final PrimaryStatus status;
    private final LoopSignal signal;
    /** The stream, once the connection is up: set by the loop, read by the transport's thread. */
    private volatile PrimaryStream stream;

    BackupAcks(UnackedCheckpoints ledger, OutputCommit outputs, EpochHistory history, BackupHeartbeats heartbeats,
            PrimaryStatus status, LoopSignal signal) {
        this.ledger = ledger;
        this.outputs = outputs;
        this.history = history;
        this.heartbeats = heartbeats;
        this.status = status;
        this.signal = signal;
    }

    void stream(PrimaryStream s) {
        stream = s;
    }

    @Override
    public void acknowledged(long epoch) {
        PrimaryStream s = stream;
        if (s != null) {
            s.acknowledged();
        }
        if (s == null || epoch == s.initialEpoch()) {
            // the initial copy is not a consistent state: its ACK releases nothing
            signal.signal();
            return;
        }
        if (!ledger.acknowledged(epoch)) {
            return;
        }
        outputs.release(epoch);
        Long pauseEnd = ledger.takePauseEnd(epoch);
        if (pauseEnd != null) {
            history.acknowledged(epoch, System.nanoTime() - pauseEnd);
        }
        heartbeats.alive();
        status.acknowledged(epoch);
        signal.signal();
    }

    @Override
    public void closed(Throwable cause) {
        PrimaryStream s = stream;
        if (s != null) {
            s.fail(cause != null ? cause : new CheckpointException("the backup ended the stream"));
        }
    }
}
