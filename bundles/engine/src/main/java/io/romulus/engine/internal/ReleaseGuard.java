package io.romulus.engine.internal;

import java.util.Optional;

import io.romulus.api.engine.Alarm;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether output may leave without a backup (I4), and whether this node must stop its copy because another node runs
 * the domain (I5). Without a witness output may leave (with the split-brain risk documented for that configuration);
 * with one, only while the witness confirms that this node holds the domain's lease, and when another node holds it
 * the domain was taken over and this node is fenced.
 *
 * <p>Used by the epoch loop's thread only (it is made before the loop starts): its fields need no lock.
 */
final class ReleaseGuard {

    private static final Logger LOG = LoggerFactory.getLogger(ReleaseGuard.class);

    private final DomainId id;
    private final String nodeId;
    private final PrimaryProtection.Node node;
    /** This node's lease of the domain from the witness, or null without one (or while it is not confirmed). */
    private Witness.Lease lease;
    private String lastProblem;

    ReleaseGuard(DomainId id, String nodeId, PrimaryProtection.Node node, Witness.Lease lease) {
        this.id = id;
        this.nodeId = nodeId;
        this.node = node;
        this.lease = lease;
    }

    /** Whether output may leave without a backup; throws when another node holds the lease (it took over). */
    boolean allowsRelease() throws FencedException {
        Witness w = node.witness();
        Witness.Lease l = lease;
        if (l == null && w == null) {
            return true;
        }
        try {
            if (l != null) {
                if (l.confirm()) {
                    lastProblem = null;
                    return true;
                }
                lease = null;
                l.close();
            }
            if (w == null) {
                return problem("the witness service went away");
            }
            Optional<Witness.Lease> taken = w.tryAcquire(id.toString(), nodeId);
            if (taken.isPresent()) {
                lease = taken.get();
                lastProblem = null;
                LOG.info("{}: took the lease of the domain from the witness ({})", id, w.describe());
                return true;
            }
            String holder = w.holder(id.toString()).orElse("another node");
            throw new FencedException("the witness (" + w.describe() + ") says " + holder + " holds the lease of "
                    + id + ": it was taken over");
        } catch (WitnessException e) {
            return problem("the witness cannot be asked: " + e.getMessage());
        }
    }

    /** Why the witness did not allow the last release, or null. */
    String lastProblem() {
        return lastProblem;
    }

    /** Protection ended in order: the lease is given back. */
    void releaseLease() {
        if (lease != null) {
            lease.close();
        }
    }

    private boolean problem(String problem) {
        if (!problem.equals(lastProblem)) {
            node.alarms().raise(Alarm.Kind.WITNESS, id, problem + "; output stays held until it answers");
        }
        lastProblem = problem;
        return false;
    }

    /**
     * The backup's word that it took the domain over, anywhere in the chain of causes (the sender may meet the
     * closed stream first and wrap what closed it), as a fencing decision; null when the stream broke otherwise.
     */
    static FencedException takenOver(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof DomainTakenOverException taken) {
                return new FencedException(taken.getMessage());
            }
        }
        return null;
    }
}
