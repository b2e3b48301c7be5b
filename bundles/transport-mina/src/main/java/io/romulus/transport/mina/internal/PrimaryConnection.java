package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

import org.apache.mina.core.session.IoSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.EpochTransfer;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.RecordType;

/**
 * Sending end of one stream: the {@link CheckpointChannel} handed to the engine. Sends come from one thread; they
 * encode on that thread and block while the session's outgoing queue is over the high watermark.
 */
final class PrimaryConnection extends Connection implements CheckpointChannel {

    private static final Logger LOG = LoggerFactory.getLogger(PrimaryConnection.class);
    private static final long NONE = Long.MIN_VALUE;

    private enum State { CHALLENGE, WELCOME, STREAMING, DONE }

    private final Hello hello;
    private final AckListener listener;
    private final CompletableFuture<HelloReply> handshake = new CompletableFuture<>();
    private final CompletableFuture<Void> secured = new CompletableFuture<>();
    private final AtomicBoolean listenerClosed = new AtomicBoolean();
    private final Object queueMonitor = new Object();
    private final Object sendLock = new Object();
    private volatile State state = State.CHALLENGE;
    private volatile Throwable failure;
    private volatile boolean closedByUs;
    private volatile boolean handedOut;
    private byte[] clientHelloBody;
    private byte[] clientNonce;
    private HelloReply peer;

    // sender-thread state, under sendLock
    private PageBatchCodec.Encoder encoder;
    private DiskWriteCodec.Encoder diskEncoder;
    private int pagesPerBatch;
    private long lastEnded = -1;
    private long openEpoch = NONE;
    private int pageCount;
    private int deviceStateBytes;
    private int diskWriteCount;
    private long rawBytes;
    private long wireBytes;
    private CRC32C checksum = new CRC32C();
    private volatile long lastAcked = -1;

    PrimaryConnection(MinaCheckpointTransport transport, IoSession session, Hello hello, AckListener listener) {
        super(transport, session);
        this.hello = hello;
        this.listener = listener;
        this.domain = hello.domain();
    }

    @Override
    String role() {
        return "primary";
    }

    /** Sends the HELLO and waits for the backup's answer. */
    HelloReply handshake(long timeoutMs) throws CheckpointException, InterruptedException {
        clientNonce = SharedSecret.nonce();
        Record first = Messages.clientHello(new Messages.ClientHello(Messages.PROTOCOL_VERSION, hello,
                transport.settings().deltaCacheBytes(), clientNonce, transport.protection()));
        clientHelloBody = first.body();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        try {
            if (transport.settings().tlsEnabled()) {
                secured.get(timeoutMs, TimeUnit.MILLISECONDS);
            }
            write(first);
            timeoutMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            HelloReply reply = handshake.get(timeoutMs, TimeUnit.MILLISECONDS);
            handedOut = true;
            if (state == State.DONE) {
                // the session ended between the reply and now: the listener must still hear of it, once
                notifyClosed(failure);
            }
            return reply;
        } catch (TimeoutException e) {
            session.closeNow();
            throw new CheckpointException((secured.isDone() || !transport.settings().tlsEnabled() ? "no HELLO reply"
                    : "no TLS handshake") + " from " + remote() + " within " + timeoutMs + " ms");
        } catch (ExecutionException e) {
            session.closeNow();
            Throwable cause = e.getCause();
            if (cause instanceof DomainTakenOverException taken) {
                throw new DomainTakenOverException(taken.getMessage());
            }
            throw cause instanceof CheckpointException ce ? new CheckpointException(ce.getMessage(), ce)
                    : new CheckpointException("HELLO with " + remote() + " failed: " + cause, cause);
        } catch (InterruptedException e) {
            session.closeNow();
            throw e;
        }
    }

    @Override
    boolean endsHandshake(Record record) {
        return record.type() == RecordType.HELLO && record.flags() == Messages.HELLO_CHALLENGE;
    }

    @Override
    void received(Record record) throws MalformedRecordException {
        if (record.type() == RecordType.ERROR) {
            String message = Messages.parseError(record.body());
            if (state == State.CHALLENGE) {
                // before the backup proved the secret its words are only words: an ERROR ends the attempt, but its
                // flags (taken over: this node would fence its own domain) are never obeyed
                LOG.warn("Backup {} refused the checkpoint stream of {} before authenticating (its flags are "
                        + "ignored): {}", remote(), domain, message);
                failure = new CheckpointException("backup " + remote() + " refused before authenticating: "
                        + message);
            } else {
                LOG.warn("Backup {} ended the checkpoint stream of {} with an error: {}", remote(), domain, message);
                failure = (record.flags() & Messages.ERROR_TAKEN_OVER) != 0
                        ? new DomainTakenOverException("backup " + remote() + " took " + domain + " over: "
                                + message)
                        : new CheckpointException("backup " + remote() + " refused: " + message);
            }
            handshake.completeExceptionally(failure);
            state = State.DONE;
            session.closeNow();
            return;
        }
        switch (state) {
            case CHALLENGE -> challenge(record);
            case WELCOME -> welcome(record);
            case STREAMING -> streaming(record);
            case DONE -> LOG.debug("Ignoring {} from {} after the stream ended", record, remote());
            default -> throw new IllegalStateException(state.name());
        }
    }

    private void challenge(Record record) throws MalformedRecordException {
        if (record.type() != RecordType.HELLO || record.flags() != Messages.HELLO_CHALLENGE) {
            fail("expected the backup's HELLO, got " + record);
            return;
        }
        int version = Messages.peekVersion(record.body());
        if (version != Messages.PROTOCOL_VERSION) {
            fail("backup speaks protocol version " + version + ", this node speaks version "
                    + Messages.PROTOCOL_VERSION);
            return;
        }
        Messages.Challenge c = Messages.parseChallenge(record.body());
        String identity = PeerIdentity.mismatch(this, c.nodeId());
        if (identity != null) {
            fail(identity);
            return;
        }
        SharedSecret secret = transport.secret();
        byte[] proof = new byte[0];
        if (secret != null) {
            if (c.proof().length == 0) {
                fail("authentication failed: the backup sent no pre-shared secret proof");
                return;
            }
            if (!SharedSecret.matches(secret.backupProof(clientHelloBody, c.nonce()), c.proof())) {
                fail("authentication failed: the backup does not know the pre-shared secret");
                return;
            }
            proof = secret.primaryProof(c.nonce(), clientHelloBody);
        }
        // everything after the proof is sealed in both directions, under keys bound to both bodies
        StreamProtection protection = transport.protection().max(c.protection());
        StreamKeys keys = StreamKeys.derive(secret, clientHelloBody, record.body(), clientNonce, c.nonce(),
                protection);
        openWith(new RecordCipher(protection, keys.backupToPrimary(), false));
        state = State.WELCOME;
        writeThenSeal(Messages.proof(proof), new RecordCipher(protection, keys.primaryToBackup(), true));
    }

    private void welcome(Record record) throws MalformedRecordException {
        if (record.type() != RecordType.HELLO || record.flags() != Messages.HELLO_WELCOME) {
            fail("expected the backup's HELLO reply, got " + record);
            return;
        }
        Messages.Welcome w = Messages.parseWelcome(record.body());
        String identity = PeerIdentity.mismatch(this, w.reply().nodeId());
        if (identity != null) {
            fail(identity);
            return;
        }
        if (w.deltaCacheBytes() < 0 || w.deltaCacheBytes() > transport.settings().deltaCacheBytes()) {
            fail("backup chose a delta cache of " + w.deltaCacheBytes() + " bytes, more than offered");
            return;
        }
        synchronized (sendLock) {
            encoder = new PageBatchCodec.Encoder(hello.pageSize(), new DeltaCache(w.deltaCacheBytes(),
                    hello.pageSize()));
            pagesPerBatch = PageBatchCodec.pagesPerBatch(hello.pageSize(), transport.settings().maxRecordBytes());
            diskEncoder = new DiskWriteCodec.Encoder(transport.settings().maxRecordBytes());
        }
        peer = w.reply();
        lastEpoch = -1;
        state = State.STREAMING;
        handshake.complete(peer);
    }

    private void streaming(Record record) {
        switch (record.type()) {
            case ACK -> {
                long epoch = record.epoch();
                if (epoch > lastEndedVolatile || epoch <= lastAcked) {
                    fail("ACK for epoch " + epoch + " which was not ended or was already acknowledged (last ended "
                            + lastEndedVolatile + ", last acknowledged " + lastAcked + ")");
                    return;
                }
                lastAcked = epoch;
                try {
                    listener.acknowledged(epoch);
                    if ((record.flags() & Messages.ACK_HANDOVER_WANTED) != 0) {
                        listener.handOverRequested();
                    }
                } catch (RuntimeException e) {
                    LOG.warn("AckListener of {} failed on ACK({})", domain, epoch, e);
                }
            }
            case GOODBYE -> {
                state = State.DONE;
                session.closeNow();
            }
            case HANDOVER -> handOverAnswer(record);
            default -> fail("unexpected " + record + " from the backup");
        }
    }

    private volatile long lastEndedVolatile = -1;

    /** The backup's answer to a hand-over: ready, or refused with why. */
    private void handOverAnswer(Record record) {
        int step;
        try {
            step = Messages.handOverStep(record);
        } catch (MalformedRecordException e) {
            fail(e.getMessage());
            return;
        }
        long epoch = record.epoch();
        try {
            switch (step) {
                case Messages.HANDOVER_READY -> listener.handOverReady(epoch);
                case Messages.HANDOVER_REFUSED -> listener.handOverRefused(epoch, Messages.parseError(record.body()));
                default -> fail("unexpected HANDOVER step " + step + " from the backup");
            }
        } catch (RuntimeException e) {
            LOG.warn("AckListener of {} failed on the hand-over answer for {}", domain, epoch, e);
        }
    }

    void fail(String reason) {
        state = State.DONE;
        failure = new CheckpointException("stream to " + remote() + " dropped: " + reason);
        reject(reason);
        secured.completeExceptionally(failure);
        handshake.completeExceptionally(failure);
    }

    @Override
    void ended(Throwable cause) {
        state = State.DONE;
        Throwable why = failure != null ? failure : cause;
        if (why == null && !closedByUs && !handshake.isDone()) {
            why = new CheckpointException("connection to " + remote() + " closed during HELLO");
        }
        secured.completeExceptionally(why != null ? why
                : new CheckpointException("connection to " + remote() + " closed during the TLS handshake"));
        handshake.completeExceptionally(why != null ? why
                : new CheckpointException("connection to " + remote() + " closed during HELLO"));
        synchronized (queueMonitor) {
            queueMonitor.notifyAll();
        }
        if (handedOut) {
            notifyClosed(why);
        }
    }

    private void notifyClosed(Throwable why) {
        if (listenerClosed.compareAndSet(false, true)) {
            try {
                listener.closed(why);
            } catch (RuntimeException e) {
                LOG.warn("AckListener of {} failed on close", domain, e);
            }
        }
    }

    /** The TLS handshake completed. */
    void secured() {
        secured.complete(null);
    }

    /** Wakes a sender blocked on the high watermark. */
    void written() {
        synchronized (queueMonitor) {
            queueMonitor.notifyAll();
        }
    }

    @Override
    public HelloReply peer() {
        return peer;
    }

    @Override
    public void sendPages(long epoch, long[] pfns, int from, int count, ByteBuffer pages)
            throws CheckpointException, InterruptedException {
        if (from < 0 || count < 0 || from + count > pfns.length) {
            throw new IndexOutOfBoundsException("pages " + from + ".." + (from + count) + " of " + pfns.length);
        }
        int pageSize = hello.pageSize();
        if ((long) count * pageSize > pages.remaining()) {
            throw new IllegalArgumentException(count + " pages need " + (long) count * pageSize
                    + " bytes, the buffer has " + pages.remaining());
        }
        synchronized (sendLock) {
            enterEpoch(epoch);
            ByteBuffer src = pages.duplicate();
            int base = src.position();
            for (int done = 0; done < count; ) {
                int n = Math.min(pagesPerBatch, count - done);
                src.position(base + done * pageSize);
                PageBatchCodec.Encoded batch = encoder.encode(pfns, from + done, n, src, checksum);
                Record record = new Record(RecordType.PAGE_BATCH, 0, epoch, batch.body());
                send(record);
                transport.stats().rawPageBytes.add(batch.rawBytes());
                transport.stats().encodedPageBytes.add(batch.body().length);
                rawBytes += batch.rawBytes();
                pageCount += n;
                done += n;
            }
        }
    }

    @Override
    public void sendDiskWrites(long epoch, int disk, List<DiskWrite> writes)
            throws CheckpointException, InterruptedException {
        if (disk < 0) {
            throw new IllegalArgumentException("disk index " + disk);
        }
        synchronized (sendLock) {
            enterEpoch(epoch);
            diskEncoder.encode(disk, writes, checksum, (body, n, raw) -> {
                send(new Record(RecordType.DISK_WRITES, 0, epoch, body));
                diskWriteCount += n;
                rawBytes += raw;
            });
        }
    }

    @Override
    public void sendDeviceState(long epoch, byte[] state) throws CheckpointException, InterruptedException {
        synchronized (sendLock) {
            enterEpoch(epoch);
            byte[] body = state.clone();
            checksum.update(body);
            send(new Record(RecordType.DEVICE_STATE, 0, epoch, body));
            deviceStateBytes += body.length;
            rawBytes += body.length;
        }
    }

    @Override
    public EpochTransfer endEpoch(long epoch, boolean initial) throws CheckpointException, InterruptedException {
        synchronized (sendLock) {
            enterEpoch(epoch);
            EpochEnd end = new EpochEnd(epoch, pageCount, deviceStateBytes, diskWriteCount, (int) checksum.getValue(),
                    initial);
            lastEndedVolatile = epoch;
            send(Messages.epochEnd(end));
            EpochTransfer transfer = new EpochTransfer(rawBytes, wireBytes);
            lastEnded = epoch;
            lastEpoch = epoch;
            openEpoch = NONE;
            pageCount = 0;
            deviceStateBytes = 0;
            diskWriteCount = 0;
            rawBytes = 0;
            wireBytes = 0;
            checksum = new CRC32C();
            return transfer;
        }
    }

    private void enterEpoch(long epoch) throws CheckpointException {
        checkOpen();
        if (epoch <= lastEnded) {
            throw new IllegalStateException("epoch " + epoch + " was already ended on this stream (last ended: "
                    + lastEnded + ")");
        }
        if (openEpoch != NONE && openEpoch != epoch) {
            throw new IllegalStateException("epoch " + openEpoch + " must end before epoch " + epoch + " starts");
        }
        openEpoch = epoch;
    }

    private void send(Record record) throws CheckpointException, InterruptedException {
        long highWatermark = transport.settings().highWatermarkBytes();
        synchronized (queueMonitor) {
            while (isOpen() && session.getScheduledWriteBytes() > highWatermark) {
                queueMonitor.wait(100);
            }
        }
        checkOpen();
        write(record);
        wireBytes += record.frameLength();
    }

    private void checkOpen() throws CheckpointException {
        if (!isOpen()) {
            Throwable why = failure;
            throw why != null ? new CheckpointException(why.getMessage(), why)
                    : new CheckpointException("the stream to " + remote() + " is closed");
        }
    }

    @Override
    public boolean isOpen() {
        return state == State.STREAMING && session.isConnected() && !session.isClosing();
    }

    @Override
    public void close() {
        closedByUs = true;
        if (isOpen()) {
            state = State.DONE;
            write(Messages.goodbye());
            session.closeOnFlush().awaitUninterruptibly(1000);
        } else {
            session.closeNow();
        }
    }

    /** Switchover: asks the backup whether it can take the domain over at {@code epoch}. */
    @Override
    public void prepareHandOver(long epoch) throws CheckpointException {
        synchronized (sendLock) {
            if (openEpoch != NONE || epoch > lastEnded) {
                throw new IllegalStateException("a hand-over is prepared at an ended epoch, between epochs");
            }
            try {
                send(Messages.handOver(Messages.HANDOVER_PREPARE, epoch, ""));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CheckpointException("interrupted while preparing the hand-over", e);
            }
        }
    }

    /** Switchover: this node's copy stopped at {@code epoch}; the last record tells the backup to run the domain. */
    @Override
    public void handOver(long epoch) throws CheckpointException {
        handOver(epoch, List.of());
    }

    /**
     * {@link #handOver(long)} with the frames that reached this node's paused copy, as many as a record takes (with
     * room for its sealing).
     */
    @Override
    public void handOver(long epoch, List<InboundFrame> frames) throws CheckpointException {
        int max = transport.settings().maxRecordBytes();
        Record go = Messages.handOverGo(epoch, frames, (int) (2L * max - RecordCipher.sealedLength(max)));
        synchronized (sendLock) {
            checkOpen();
            closedByUs = true;
            state = State.DONE;
            write(go);
            if (!session.closeOnFlush().awaitUninterruptibly(2000)) {
                throw new CheckpointException("the hand-over to " + remote() + " was not sent within 2 s");
            }
        }
    }

    @Override
    public void abort(String reason) {
        end(Messages.error(reason));
    }

    @Override
    public void stopPlanned(String reason) {
        end(Messages.plannedStop(reason));
    }

    private void end(Record error) {
        closedByUs = true;
        if (isOpen()) {
            state = State.DONE;
            write(error);
            session.closeOnFlush().awaitUninterruptibly(1000);
        } else {
            session.closeNow();
        }
    }

    @Override
    public String toString() {
        return "CheckpointChannel[" + domain + " -> " + remote() + "]";
    }
}
