package io.romulus.api.witness;

import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A third party that decides which node may run a protected domain (ARCHITECTURE.md section 6, invariant I5). Each
 * domain has one lease; the node that holds it is the only one allowed to release the domain's output. The primary
 * takes the lease when protection starts; a backup activates its replica only after it has taken the lease itself,
 * which it can only do once the primary's hold has ended (released, or expired because the primary went silent).
 *
 * <p>Every call that answers "yes" has asked the witness just now; when the witness cannot be asked, the call throws
 * {@link WitnessException} and the caller must act as if the answer were "no".
 */
@ProviderType
public interface Witness {

    /** What this witness is, for status lines and logs, for example {@code ZooKeeper 10.0.0.5:2181/romulus}. */
    String describe();

    /**
     * Takes the lease of {@code domain} for {@code nodeId}, without waiting.
     *
     * @return the lease, or empty if another node holds it now
     * @throws WitnessException if the witness cannot be asked
     */
    Optional<Lease> tryAcquire(String domain, String nodeId) throws WitnessException;

    /**
     * The node holding the lease of {@code domain} now, or empty if nobody does.
     *
     * @throws WitnessException if the witness cannot be asked
     */
    Optional<String> holder(String domain) throws WitnessException;

    /** One node's hold on one domain's lease. */
    interface Lease extends AutoCloseable {

        String domain();

        String nodeId();

        /**
         * Whether this node still holds the lease as far as this client knows, without asking the witness: turns
         * false as soon as the client learns the hold ended (session expired or lost). Cheap; for status lines.
         */
        boolean held();

        /**
         * Asks the witness now whether this node still holds the lease.
         *
         * @return false if the hold ended (expired, or another node holds the lease)
         * @throws WitnessException if the witness cannot be asked; the caller must assume the lease is lost
         */
        boolean confirm() throws WitnessException;

        /** Gives the lease up (orderly end of protection); idempotent. */
        @Override
        void close();
    }
}
