package io.romulus.transport.mina.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;

/**
 * Answers the engine gives later (the welcome to a switchover's stream back, held until the old primary stopped its
 * copy; "ready" to "prepare", given once the guest's addresses moved) are sent from the thread that gives them: the
 * backup's I/O thread does not wait for them, so the other streams it serves go on meanwhile. The backup's transport
 * here reads every connection on one I/O thread, so that the held one and the other certainly share it.
 */
class HeldAnswersTest {

    private static final int PAGE = 4096;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    /**
     * An engine that holds its answer to the HELLO of domain {@code held} until {@link #release}, and answers every
     * other at once; asked to answer at once ({@link #accept}), it waits for the held answer, as an engine did.
     */
    private static final class HoldingAcceptor implements ReplicaAcceptor {

        final RecordingSink sink = new RecordingSink(PAGE);
        final RecordingSink heldSink = new RecordingSink(PAGE);
        final CompletableFuture<Accepted> held = new CompletableFuture<>();
        final CountDownLatch asked = new CountDownLatch(1);

        @Override
        public Accepted accept(Hello hello) throws CheckpointException {
            try {
                return acceptAsync(hello).toCompletableFuture().get(30, TimeUnit.SECONDS);
            } catch (InterruptedException | ExecutionException | java.util.concurrent.TimeoutException e) {
                throw new CheckpointException("no answer: " + e, e);
            }
        }

        @Override
        public CompletionStage<Accepted> acceptAsync(Hello hello) {
            if (!hello.domain().equals("sim:held")) {
                return sink.acceptAsync(hello);
            }
            asked.countDown();
            return held;
        }

        void release() {
            held.complete(new Accepted(heldSink, new HelloReply("backup-node", -1)));
        }
    }

    private MinaCheckpointTransport start(TransportSettings s, int ioProcessors) throws IOException {
        MinaCheckpointTransport t = MinaCheckpointTransport.create(s, ioProcessors);
        toClose.add(t);
        return t;
    }

    private static TransportSettings base() {
        return TransportSettings.defaults().withListen("127.0.0.1", 0).withConnectTimeoutMs(10_000);
    }

    private static Hello hello(String domain) {
        return new Hello("primary-node", domain, "sim", 64L << 20, PAGE, Map.of());
    }

    /** Sends checkpoint {@code epoch} (one page) on {@code channel} and waits for its ACK. */
    private static void checkpoint(CheckpointChannel channel, TransportTest.Acks acks, long epoch) throws Exception {
        channel.sendPages(epoch, new long[] {epoch}, 0, 1, ByteBuffer.wrap(new byte[PAGE]));
        channel.sendDeviceState(epoch, new byte[] {(byte) epoch});
        channel.endEpoch(epoch, false);
        await().atMost(Duration.ofSeconds(10)).until(() -> acks.acked.contains(epoch));
    }

    @Test
    void aHeldHelloDoesNotStopAnotherStreamOnTheSameIoThread() throws Exception {
        MinaCheckpointTransport backup = start(base(), 1);
        HoldingAcceptor engine = new HoldingAcceptor();
        backup.setAcceptor(engine);
        MinaCheckpointTransport primary = start(base().withListen(null, 0), 0);

        TransportTest.Acks heldAcks = new TransportTest.Acks();
        CompletableFuture<CheckpointChannel> heldStream = CompletableFuture.supplyAsync(() -> {
            try {
                return primary.connect(backup.listenAddress(), hello("sim:held"), heldAcks);
            } catch (CheckpointException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(engine.asked.await(10, TimeUnit.SECONDS), "the engine was asked for the held stream");

        // while that answer is held, another stream on the same (only) I/O thread connects and is acknowledged
        TransportTest.Acks acks = new TransportTest.Acks();
        CheckpointChannel other = primary.connect(backup.listenAddress(), hello("sim:other"), acks);
        checkpoint(other, acks, 1);
        assertFalse(heldStream.isDone(), "the held stream has no answer yet");

        // the answer, given on this thread, starts the held stream
        engine.release();
        CheckpointChannel held = heldStream.get(10, TimeUnit.SECONDS);
        checkpoint(held, heldAcks, 1);
        assertEquals(1, engine.heldSink.ends.size());
        assertEquals(1, engine.sink.ends.size());
    }

    @Test
    void aHeldHelloWhoseConnectionEndsMeanwhileClosesTheStreamItIsGivenLater() throws Exception {
        MinaCheckpointTransport backup = start(base(), 1);
        HoldingAcceptor engine = new HoldingAcceptor();
        backup.setAcceptor(engine);
        MinaCheckpointTransport primary = start(base().withListen(null, 0).withConnectTimeoutMs(300), 0);

        // the primary gives up waiting for the welcome and closes its connection
        CompletableFuture<CheckpointChannel> heldStream = CompletableFuture.supplyAsync(() -> {
            try {
                return primary.connect(backup.listenAddress(), hello("sim:held"), new TransportTest.Acks());
            } catch (CheckpointException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(engine.asked.await(10, TimeUnit.SECONDS));
        assertTrue(assertFailsLater(heldStream), "the primary gave up");
        await().atMost(Duration.ofSeconds(10)).until(() -> backup.connections().isEmpty());

        engine.release();
        assertTrue(engine.heldSink.closed.await(10, TimeUnit.SECONDS),
                "the stream given to a connection that had ended is closed at once");
        assertFalse(engine.heldSink.closedOrderly);
    }

    private static boolean assertFailsLater(CompletableFuture<CheckpointChannel> f) throws InterruptedException {
        try {
            f.get(10, TimeUnit.SECONDS);
            return false;
        } catch (ExecutionException e) {
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        }
    }

    @Test
    void aReadyAnsweredLaterDoesNotStopAnotherStreamOnTheSameIoThread() throws Exception {
        MinaCheckpointTransport backup = start(base(), 1);
        CompletableFuture<Void> ready = new CompletableFuture<>();
        RecordingSink preparing = new RecordingSink(PAGE);
        preparing.readiness = ready; // ready once the test says the addresses moved
        RecordingSink sink = new RecordingSink(PAGE);
        backup.setAcceptor(hello -> new ReplicaAcceptor.Accepted(hello.domain().equals("sim:moving") ? preparing
                : sink, new HelloReply("backup-node", -1)));
        MinaCheckpointTransport primary = start(base().withListen(null, 0), 0);
        TransportTest.Acks movingAcks = new TransportTest.Acks();
        CheckpointChannel moving = primary.connect(backup.listenAddress(), hello("sim:moving"), movingAcks);
        checkpoint(moving, movingAcks, 1);
        TransportTest.Acks acks = new TransportTest.Acks();
        CheckpointChannel other = primary.connect(backup.listenAddress(), hello("sim:other"), acks);

        moving.prepareHandOver(1);
        await().atMost(Duration.ofSeconds(10)).until(() -> preparing.prepared.contains(1L));
        // the backup is not ready yet; its I/O thread serves the other stream meanwhile
        checkpoint(other, acks, 1);
        assertEquals(List.of(), movingAcks.handOverAnswers);

        ready.complete(null);
        await().atMost(Duration.ofSeconds(10)).until(() -> movingAcks.handOverAnswers.equals(List.of("1 ready")));
    }
}
