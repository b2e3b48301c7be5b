package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.Hello;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stream back to the old primary of a switchover, opened by the backup at "prepare" on a thread of its own: the
 * old primary holds its answer to the HELLO until it stopped its copy and keeps its replica as this node's backup
 * (and refuses it when the switchover aborts), so connecting and the handshake cost the blackout nothing, and the
 * stream is up about when "go" arrives. The protection's first connection attempt takes it ({@link BackupLink}) when
 * its HELLO is the one that attempt would send; otherwise, or when the switchover does not happen or fails here, it is
 * closed. Until it is taken, the stream's ACKs (there are none before the first checkpoint) and its end are kept for
 * the listener that takes it.
 */
final class PreOpenedStream implements AckListener {

    private static final Logger LOG = LoggerFactory.getLogger(PreOpenedStream.class);

    private final DomainId id;
    private final Hello hello;
    private final CompletableFuture<CheckpointChannel> channel = new CompletableFuture<>();
    @GuardedBy("this")
    private AckListener taker;
    /** Why the connection ended before it was taken, or null. */
    @GuardedBy("this")
    private Throwable ended;
    @GuardedBy("this")
    private boolean endedEarly;
    /** When the connection and its handshake were done ({@link System#nanoTime}), or 0 before. */
    @GuardedBy("this")
    private long connected;
    /** The switchover's timeline, which marks when the stream back is connected; null until "go". */
    @GuardedBy("this")
    private HandOverTimeline timeline;

    /** Opens the stream back of a switchover prepared at checkpoint {@code epoch} of {@code b}, or returns null. */
    @FunctionalInterface
    interface Opener {
        PreOpenedStream open(BackupReplica b, long epoch);
    }

    private PreOpenedStream(DomainId id, Hello hello) {
        this.id = id;
        this.hello = hello;
    }

    /** Starts connecting to {@code target} with {@code hello}; returns at once. */
    static PreOpenedStream open(CheckpointTransport t, InetSocketAddress target, Hello hello, DomainId id) {
        PreOpenedStream p = new PreOpenedStream(id, hello);
        Thread connecting = new Thread(() -> {
            try {
                CheckpointChannel c = t.connect(target, hello, p);
                p.connected();
                p.channel.complete(c);
            } catch (CheckpointException | RuntimeException e) {
                p.channel.completeExceptionally(e);
            } catch (InterruptedException e) {
                p.channel.completeExceptionally(e);
                Thread.currentThread().interrupt();
            }
        }, "romulus-switchover-stream-" + id);
        connecting.setDaemon(true);
        connecting.start();
        return p;
    }

    private void connected() {
        HandOverTimeline t;
        long at = System.nanoTime();
        synchronized (this) {
            connected = at;
            t = timeline;
        }
        if (t != null) {
            t.markAt("stream back connected", at);
        }
    }

    /**
     * "go" arrived: {@code t} marks when the stream back was connected (ms since "go", negative when before it), now
     * or once it is.
     */
    void timeline(HandOverTimeline t) {
        long at;
        synchronized (this) {
            timeline = t;
            at = connected;
        }
        if (at != 0) {
            t.markAt("stream back connected", at);
        }
    }

    Hello hello() {
        return hello;
    }

    /**
     * Waits up to {@code timeoutMs} for the connection and returns it; from now on its ACKs and its end go to
     * {@code acks}. Throws (after closing it) when it could not be opened, or ended before it was taken.
     */
    CheckpointChannel take(AckListener acks, long timeoutMs) throws CheckpointException, InterruptedException {
        CheckpointChannel c;
        try {
            c = channel.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof CheckpointException ce) {
                throw ce;
            }
            throw new CheckpointException("opening the stream ahead of the activation failed: " + cause, cause);
        } catch (TimeoutException e) {
            discard("not up within " + timeoutMs + " ms");
            throw new CheckpointException("the stream opened ahead of the activation was not up within " + timeoutMs
                    + " ms");
        }
        synchronized (this) {
            if (endedEarly) {
                c.close();
                throw new CheckpointException("the stream opened ahead of the activation ended before it was used"
                        + (ended == null ? "" : ": " + ended.getMessage()));
            }
            taker = acks;
        }
        return c;
    }

    /** Not taken: the connection is closed as soon as it is up (the old primary keeps its replica). */
    void discard(String why) {
        Future<?> unused = channel.whenComplete((c, failed) -> {
            if (c != null) {
                LOG.info("{}: the stream opened ahead of the switchover's activation is not used ({}); closing it",
                        id, why);
                c.abort(why);
            }
        });
    }

    private synchronized AckListener taker() {
        return taker;
    }

    @Override
    public void acknowledged(long epoch) {
        AckListener t = taker();
        if (t != null) {
            t.acknowledged(epoch);
        }
    }

    @Override
    public void handOverReady(long epoch) {
        AckListener t = taker();
        if (t != null) {
            t.handOverReady(epoch);
        }
    }

    @Override
    public void handOverRefused(long epoch, String reason) {
        AckListener t = taker();
        if (t != null) {
            t.handOverRefused(epoch, reason);
        }
    }

    @Override
    public void handOverRequested() {
        AckListener t = taker();
        if (t != null) {
            t.handOverRequested();
        }
    }

    @Override
    public void closed(Throwable cause) {
        AckListener t;
        synchronized (this) {
            t = taker;
            if (t == null) {
                endedEarly = true;
                ended = cause;
                return;
            }
        }
        t.closed(cause);
    }
}
