package io.romulus.api.transport;

import org.osgi.annotation.versioning.ConsumerType;

/** Backup side: decides what to do with a new, authenticated stream. */
@ConsumerType
public interface ReplicaAcceptor {

    /**
     * A primary has said HELLO. Returns the sink for the stream and the reply, or throws to refuse it (the message
     * is sent to the primary in an ERROR record).
     */
    Accepted accept(Hello hello) throws CheckpointException;

    /** A sink and the reply that goes with it. */
    record Accepted(ReplicaSink sink, HelloReply reply) {
    }
}
