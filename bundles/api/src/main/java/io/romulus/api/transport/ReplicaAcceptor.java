package io.romulus.api.transport;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

import org.osgi.annotation.versioning.ConsumerType;

/** Backup side: decides what to do with a new, authenticated stream. */
@ConsumerType
public interface ReplicaAcceptor {

    /**
     * A primary has said HELLO. Returns the sink for the stream and the reply, or throws to refuse it (the message
     * is sent to the primary in an ERROR record).
     */
    Accepted accept(Hello hello) throws CheckpointException;

    /**
     * {@link #accept(Hello)}, answered when the returned stage completes: with the sink and the reply, or
     * exceptionally to refuse the stream (the cause's message is sent to the primary in an ERROR record, a
     * {@link DomainTakenOverException} as such). An acceptor may hold its answer for a while (a planned switchover's
     * stream back waits until the primary stopped its copy) without holding the transport's thread: the transport
     * calls this one and answers from whichever thread completes the stage; should the connection end meanwhile, it
     * closes the sink it is then given. The default calls {@link #accept(Hello)} and is complete when it returns.
     *
     * @since 1.7
     */
    default CompletionStage<Accepted> acceptAsync(Hello hello) {
        try {
            return CompletableFuture.completedFuture(accept(hello));
        } catch (CheckpointException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** A sink and the reply that goes with it. */
    record Accepted(ReplicaSink sink, HelloReply reply) {
    }
}
