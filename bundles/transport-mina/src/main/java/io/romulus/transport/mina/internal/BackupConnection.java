package io.romulus.transport.mina.internal;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.zip.CRC32C;

import org.apache.mina.core.session.IoSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.PlannedStopException;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.ReplicaAcceptor;
import io.romulus.api.transport.RecordType;
import io.romulus.api.transport.ReplicaSink;

/**
 * Receiving end of one stream. Runs on the session's I/O thread, so records reach the sink in order and a slow sink
 * stops reading from the socket (TCP then pushes back to the primary, whose sends block on its high watermark): at
 * most one record per connection is held in memory. Two answers are given from whichever thread the engine gives them
 * on, so that the I/O thread, which serves other sessions too, never waits for them: the welcome to the HELLO (held
 * while a planned switchover's old primary stops its copy) and the "ready" to a switchover's "prepare" (given once
 * the guest's addresses moved here).
 */
final class BackupConnection extends Connection {

    private static final Logger LOG = LoggerFactory.getLogger(BackupConnection.class);
    private static final long NONE = Long.MIN_VALUE;

    private enum State { HELLO, PROOF, ACCEPTING, STREAMING, DONE }

    /**
     * Where the stream is; changed on the I/O thread, except that the acceptor's answer, given on any thread, moves
     * it out of ACCEPTING: that step and every other step out of ACCEPTING are taken under {@link #acceptLock}. The
     * fields the answer sets ({@code sink}, {@code decoder}) are written before it becomes STREAMING and read after.
     */
    private volatile State state = State.HELLO;
    /** Orders the acceptor's answer with the connection's end and with what the primary sends meanwhile. */
    private final Object acceptLock = new Object();
    private Messages.ClientHello clientHello;
    private byte[] clientHelloBody;
    private byte[] nonce;
    private byte[] challengeBody;
    private ReplicaSink sink;
    private PageBatchCodec.Decoder decoder;
    private final DiskWriteCodec.Decoder diskDecoder = new DiskWriteCodec.Decoder();
    private int pageSize;
    private boolean sinkClosed;

    private long lastEnded = -1;
    private long openEpoch = NONE;
    private int pageCount;
    private int deviceStateBytes;
    private int diskWriteCount;
    private CRC32C checksum = new CRC32C();

    BackupConnection(MinaCheckpointTransport transport, IoSession session) {
        super(transport, session);
    }

    @Override
    String role() {
        return "backup";
    }

    @Override
    boolean endsHandshake(Record record) {
        return record.type() == RecordType.HELLO && record.flags() == Messages.HELLO_PROOF;
    }

    @Override
    void received(Record record) throws MalformedRecordException {
        if (state == State.ACCEPTING) {
            synchronized (acceptLock) {
                if (state == State.ACCEPTING) {
                    whileAccepting(record);
                    return;
                }
            }
        }
        if (record.type() == RecordType.ERROR && state != State.STREAMING
                && state != State.DONE) {
            LOG.warn("Primary {} gave up the HELLO of {}: {}", remote(), domain, Messages.parseError(record.body()));
            state = State.DONE;
            session.closeNow();
            return;
        }
        switch (state) {
            case HELLO -> hello(record);
            case PROOF -> proof(record);
            case STREAMING -> streaming(record);
            case DONE -> LOG.debug("Ignoring {} from {} after the stream ended", record, remote());
            default -> throw new IllegalStateException(state.name());
        }
    }

    private void hello(Record record) throws MalformedRecordException {
        if (record.type() != RecordType.HELLO || record.flags() != Messages.HELLO_CLIENT) {
            fail("expected HELLO as the first record, got " + record);
            return;
        }
        int version = Messages.peekVersion(record.body());
        if (version != Messages.PROTOCOL_VERSION) {
            fail("protocol version " + version + " is not supported; this node speaks version "
                    + Messages.PROTOCOL_VERSION);
            return;
        }
        clientHello = Messages.parseClientHello(record.body());
        Hello hello = clientHello.hello();
        domain = hello.domain();
        String identity = PeerIdentity.mismatch(this, hello.nodeId());
        if (identity != null) {
            fail(identity);
            return;
        }
        int ps = hello.pageSize();
        if (ps < 512 || ps > (1 << 21) || Integer.bitCount(ps) != 1) {
            fail("page size " + ps + " is not a power of two between 512 and 2 MiB");
            return;
        }
        if (PageBatchCodec.pagesPerBatch(ps, transport.settings().maxRecordBytes()) < 1
                || ps + 64 > transport.settings().maxRecordBytes()) {
            fail("page size " + ps + " does not fit into max.record.bytes=" + transport.settings().maxRecordBytes());
            return;
        }
        pageSize = ps;
        clientHelloBody = record.body();
        nonce = SharedSecret.nonce();
        SharedSecret secret = transport.secret();
        byte[] proof = secret == null ? new byte[0] : secret.backupProof(clientHelloBody, nonce);
        Record challenge = Messages.challenge(new Messages.Challenge(Messages.PROTOCOL_VERSION,
                transport.settings().nodeId(), nonce, proof, transport.protection()));
        challengeBody = challenge.body();
        write(challenge);
        state = State.PROOF;
    }

    /** A record while the answer to the HELLO is held: the primary gave up (ERROR), or broke the protocol. */
    private void whileAccepting(Record record) throws MalformedRecordException {
        state = State.DONE;
        if (record.type() == RecordType.ERROR) {
            LOG.warn("Primary {} gave up the HELLO of {} while its answer was held: {}", remote(), domain,
                    Messages.parseError(record.body()));
            session.closeNow();
        } else {
            fail("unexpected " + record + " before the answer to the HELLO");
        }
    }

    private void proof(Record record) throws MalformedRecordException {
        if (record.type() != RecordType.HELLO || record.flags() != Messages.HELLO_PROOF) {
            fail("expected the HELLO proof, got " + record);
            return;
        }
        byte[] proof = Messages.parseProof(record.body());
        SharedSecret secret = transport.secret();
        if (secret != null) {
            if (proof.length == 0) {
                fail("authentication failed: the primary sent no pre-shared secret proof");
                return;
            }
            if (!SharedSecret.matches(secret.primaryProof(nonce, clientHelloBody), proof)) {
                fail("authentication failed: the primary does not know the pre-shared secret");
                return;
            }
        }
        // the primary proved the secret: everything from here on is sealed in both directions
        StreamProtection protection = transport.protection().max(clientHello.protection());
        StreamKeys keys = StreamKeys.derive(secret, clientHelloBody, challengeBody, clientHello.nonce(), nonce,
                protection);
        openWith(new RecordCipher(protection, keys.primaryToBackup(), false));
        sealWith(new RecordCipher(protection, keys.backupToPrimary(), true));
        transport.authenticated(this);
        ReplicaAcceptor acceptor = transport.acceptor();
        if (acceptor == null) {
            state = State.DONE;
            refuse("no replication engine is running on this node");
            return;
        }
        CompletionStage<ReplicaAcceptor.Accepted> answer;
        try {
            answer = acceptor.acceptAsync(clientHello.hello());
        } catch (RuntimeException e) {
            answer = CompletableFuture.failedFuture(e);
        }
        synchronized (acceptLock) {
            state = State.ACCEPTING;
        }
        // the acceptor may hold its answer (a switchover's stream back, until the primary stopped its copy): it is
        // sent from the thread that gives it, and this I/O thread serves its other sessions meanwhile
        answer.whenComplete((accepted, failure) -> accepted(accepted, failure, protection));
        if (state == State.ACCEPTING) {
            LOG.debug("The answer to the HELLO of {} from {} is held until the engine gives it", domain, remote());
        }
    }

    /**
     * The acceptor's answer to the HELLO: the welcome, and the stream starts; or the refusal. On the thread that
     * gave it (this connection's I/O thread when it was given at once); should the connection have ended meanwhile,
     * the sink it brings is closed.
     */
    private void accepted(ReplicaAcceptor.Accepted accepted, Throwable failure, StreamProtection protection) {
        boolean ended;
        synchronized (acceptLock) {
            ended = state != State.ACCEPTING;
            if (!ended) {
                stream(accepted, failure, protection);
            }
        }
        if (ended && accepted != null) {
            LOG.info("The connection from {} ended while the answer to its HELLO of {} was held; the stream it was "
                    + "given is closed", remote(), domain);
            closeAccepted(accepted.sink());
        }
    }

    /** {@link #accepted}, under the lock while the connection is still ACCEPTING: the stream starts, or is refused. */
    private void stream(ReplicaAcceptor.Accepted accepted, Throwable failure, StreamProtection protection) {
        if (failure != null) {
            Throwable e = causeOf(failure);
            state = State.DONE;
            refuse("domain " + domain + " refused: " + e.getMessage(), e instanceof DomainTakenOverException);
            return;
        }
        sink = accepted.sink();
        long cacheBytes = Math.min(clientHello.deltaCacheBytes(), transport.settings().deltaCacheBytes());
        decoder = new PageBatchCodec.Decoder(pageSize, new DeltaCache(cacheBytes, pageSize),
                transport.settings().maxRecordBytes());
        lastEpoch = accepted.reply().committedEpoch();
        // before the welcome: the primary's first record, which follows it, finds the stream set up
        state = State.STREAMING;
        write(Messages.welcome(new Messages.Welcome(accepted.reply(), cacheBytes)));
        LOG.info("Receiving checkpoint stream of {} from {} (node {}, {})", domain, remote(),
                clientHello.hello().nodeId(), protection);
    }

    /** Closes a sink the acceptor gave a connection that had ended by then. */
    private void closeAccepted(ReplicaSink given) {
        try {
            given.closed(new CheckpointException("the connection from " + remote() + " ended before its stream "
                    + "started"));
        } catch (RuntimeException e) {
            LOG.warn("Replica sink of {} failed while closing", domain, e);
        }
    }

    private void streaming(Record record) throws MalformedRecordException {
        switch (record.type()) {
            case PAGE_BATCH -> {
                if (!enterEpoch(record)) {
                    return;
                }
                PageBatchCodec.Decoded batch = decoder.decode(record.body(), checksum);
                pageCount += batch.pfns().length;
                try {
                    sink.pages(record.epoch(), batch.pfns(), batch.pfns().length, batch.pages());
                } catch (CheckpointException | RuntimeException e) {
                    sinkFailed(e);
                }
            }
            case DEVICE_STATE -> {
                if (!enterEpoch(record)) {
                    return;
                }
                checksum.update(record.body());
                deviceStateBytes += record.body().length;
                try {
                    sink.deviceState(record.epoch(), record.body());
                } catch (CheckpointException | RuntimeException e) {
                    sinkFailed(e);
                }
            }
            case DISK_WRITES -> {
                if (!enterEpoch(record)) {
                    return;
                }
                DiskWriteCodec.Decoded writes = diskDecoder.decode(record.body(), checksum);
                diskWriteCount += writes.writes().size();
                try {
                    sink.diskWrites(record.epoch(), writes.disk(), writes.writes());
                } catch (CheckpointException | RuntimeException e) {
                    sinkFailed(e);
                }
            }
            case EPOCH_END -> {
                if (!enterEpoch(record)) {
                    return;
                }
                EpochEnd end = Messages.parseEpochEnd(record.epoch(), record.body());
                int computed = (int) checksum.getValue();
                if (end.pageCount() != pageCount || end.deviceStateBytes() != deviceStateBytes
                        || end.diskWriteCount() != diskWriteCount || end.checksum() != computed) {
                    fail(String.format("EPOCH_END of epoch %d does not match what arrived: it says %d pages, "
                            + "%d device state bytes, %d disk writes, checksum %08x; received %d pages, %d device "
                            + "state bytes, %d disk writes, checksum %08x", end.epoch(), end.pageCount(),
                            end.deviceStateBytes(), end.diskWriteCount(), end.checksum(), pageCount,
                            deviceStateBytes, diskWriteCount, computed));
                    return;
                }
                try {
                    sink.epochEnd(end);
                } catch (CheckpointException | RuntimeException e) {
                    sinkFailed(e);
                    return;
                }
                lastEnded = end.epoch();
                lastEpoch = end.epoch();
                openEpoch = NONE;
                pageCount = 0;
                deviceStateBytes = 0;
                diskWriteCount = 0;
                checksum = new CRC32C();
                boolean wanted;
                try {
                    wanted = sink.handOverWanted();
                } catch (RuntimeException e) {
                    LOG.warn("Replica sink of {} failed to say whether it wants the domain handed over", domain, e);
                    wanted = false;
                }
                write(Messages.ack(end.epoch(), wanted));
            }
            case GOODBYE -> {
                state = State.DONE;
                closeSink(null);
                session.closeOnFlush();
            }
            case HANDOVER -> handOver(record);
            case ERROR -> {
                String message = Messages.parseError(record.body());
                state = State.DONE;
                if ((record.flags() & Messages.ERROR_PLANNED) != 0) {
                    LOG.info("Primary {} stopped the checkpoint stream of {} for an update: {}", remote(), domain,
                            message);
                    closeSink(new PlannedStopException("the primary stopped for an update: " + message));
                } else {
                    LOG.warn("Primary {} ended the checkpoint stream of {} with an error: {}", remote(), domain,
                            message);
                    closeSink(new CheckpointException("the primary reported: " + message));
                }
                session.closeNow();
            }
            default -> fail("unexpected " + record + " on an established stream");
        }
    }

    /** A planned switchover's step from the primary: prepare (answered ready or refused) or go (the stream ends). */
    private void handOver(Record record) throws MalformedRecordException {
        int step = Messages.handOverStep(record);
        long epoch = record.epoch();
        if (openEpoch != NONE || epoch != lastEnded) {
            fail("HANDOVER at epoch " + epoch + " while the last ended epoch is " + lastEnded
                    + (openEpoch != NONE ? " and epoch " + openEpoch + " is open" : ""));
            return;
        }
        switch (step) {
            case Messages.HANDOVER_PREPARE -> {
                CompletionStage<Void> ready;
                try {
                    ready = sink.prepareHandOverAsync(epoch);
                } catch (RuntimeException e) {
                    ready = CompletableFuture.failedFuture(e);
                }
                // answered when the sink is ready, from the thread that says so: this one reads on meanwhile
                ready.whenComplete((v, failure) -> answerPrepare(epoch, failure));
            }
            case Messages.HANDOVER_GO -> {
                List<InboundFrame> frames = Messages.parseHandOverFrames(record.body());
                state = State.DONE;
                LOG.info("Primary {} handed {} over at checkpoint {}{}", remote(), domain, epoch,
                        frames.isEmpty() ? "" : " with " + frames.size() + " frames that reached its paused copy");
                try {
                    sink.handOver(epoch, frames);
                } catch (RuntimeException e) {
                    LOG.error("Replica of {} failed to take the hand-over at {}", domain, epoch, e);
                }
                closeSink(new CheckpointException("the primary handed the domain over at checkpoint " + epoch));
                session.closeOnFlush();
            }
            default -> fail("unexpected HANDOVER step " + step + " from the primary");
        }
    }

    /** Answers the primary's "prepare" of {@code epoch}: "ready", or "refused" with why ({@code failure}). */
    private void answerPrepare(long epoch, Throwable failure) {
        if (failure == null) {
            write(Messages.handOver(Messages.HANDOVER_READY, epoch, ""));
            return;
        }
        Throwable e = causeOf(failure);
        LOG.info("Replica of {} cannot take the domain over at {}: {}", domain, epoch, e.getMessage());
        write(Messages.handOver(Messages.HANDOVER_REFUSED, epoch, e.getMessage() == null ? e.toString()
                : e.getMessage()));
    }

    /** What failed a stage: the cause a dependent stage wraps. */
    private static Throwable causeOf(Throwable failure) {
        return failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    }

    private boolean enterEpoch(Record record) {
        long epoch = record.epoch();
        if (epoch <= lastEnded) {
            fail(record.type() + " for epoch " + epoch + " arrived after that epoch ended (last ended: " + lastEnded
                    + ")");
            return false;
        }
        if (openEpoch != NONE && openEpoch != epoch) {
            fail(record.type() + " for epoch " + epoch + " while epoch " + openEpoch + " has not ended");
            return false;
        }
        openEpoch = epoch;
        return true;
    }

    /** The peer was too slow to complete the handshake: drop the connection (there is no sink yet). */
    void handshakeTimedOut(String reason) {
        reject(reason); // from the timer thread: reject is idempotent and thread-safe

    }

    /** A protocol violation: drop the connection and tell the sink. */
    void fail(String reason) {
        state = State.DONE;
        reject(reason);
        closeSink(new CheckpointException("stream from " + remote() + " dropped: " + reason));
    }

    /** The sink refused something: no ACK, close. */
    void sinkFailed(Exception e) {
        state = State.DONE;
        LOG.warn("Replica of {} refused the stream from {}: {}", domain, remote(), e.getMessage());
        write(Messages.error("the backup refused the stream: " + e.getMessage(),
                e instanceof DomainTakenOverException));
        session.closeOnFlush();
        closeSink(e);
    }

    private void closeSink(Throwable cause) {
        if (sink != null && !sinkClosed) {
            sinkClosed = true;
            try {
                sink.closed(cause);
            } catch (RuntimeException e) {
                LOG.warn("Replica sink of {} failed while closing", domain, e);
            }
        }
    }

    @Override
    void ended(Throwable failure) {
        boolean orderly;
        synchronized (acceptLock) {
            orderly = state == State.DONE;
            state = State.DONE;
        }
        if (!orderly) {
            closeSink(failure != null ? failure
                    : new CheckpointException("connection from " + remote() + " closed without GOODBYE"));
        } else {
            closeSink(failure);
        }
    }
}
