package io.romulus.engine.internal;

import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a {@link BackupReplica} survives bundle updates (ARCHITECTURE.md section 8): when its hypervisor binding is
 * updated, the stream is cut and the next version of the binding adopts the committed replica; when the engine is
 * updated, the replica is let go of as plain data ({@link BackupReplica.HandedOver}) and the next engine restores it.
 * Each step holds the replica's lock, so none falls in the middle of an apply.
 */
final class ReplicaHandOver {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicaHandOver.class);

    private ReplicaHandOver() {
    }

    /** The binding of the replica is going away: the stream is cut (the primary resumes it once adopted). */
    static void bindingGone(BackupReplica r) {
        synchronized (r.lock) {
            if (r.isActivated()) {
                return;
            }
            // with nothing committed (an initial copy under way) there is nothing to adopt: the stream is cut and the
            // primary's next one copies the domain whole; marking the replica away would leave it so for good
            r.replicaAway = r.committed != null;
            r.cutStream();
        }
    }

    /**
     * The new version of the binding adopts the replica ({@code adopter} returns it, or empty): everything else
     * stays; without it nothing consistent is left here and the replica is dropped.
     */
    static boolean adopt(BackupReplica r, Function<ReplicaSpec, Optional<Replica>> adopter) {
        synchronized (r.lock) {
            if (!r.replicaAway || r.committed == null) {
                return true;
            }
            Optional<Replica> adopted;
            try {
                adopted = adopter.apply(r.committed.spec());
            } catch (RuntimeException e) {
                LOG.warn("Adopting the replica of {} failed", r.id(), e);
                adopted = Optional.empty();
            }
            long c = r.committedEpoch;
            if (adopted.isEmpty() || adopted.get().committedEpoch() != c) {
                LOG.error("The new '{}' binding did not adopt the replica of {} at checkpoint {}{}; it is dropped and "
                        + "the primary's next stream copies the domain whole", r.binding(), r.id(), c,
                        adopted.map(a -> " (it holds checkpoint " + a.committedEpoch() + ")").orElse(""));
                adopted.ifPresent(Replica::close);
                r.committed = null;
                r.committedEpoch = -1;
                r.replicaAway = false;
                r.show(ProtectionState.CONNECTING, "replica lost in a bundle update of its binding; waiting for a "
                        + "full copy");
                return false;
            }
            r.committed = adopted.get();
            r.replicaAway = false;
            r.showDetail("replica adopted by the new binding at checkpoint " + c);
            LOG.info("The replica of {} at checkpoint {} was adopted by the new '{}' binding", r.id(), c, r.binding());
            return true;
        }
    }

    /**
     * The engine is being updated: cuts the stream and lets go of the replica without dropping it. Returns what the
     * next engine needs, or null when nothing can be handed over (no committed replica, activated, or disks, whose
     * backup sides end with this engine).
     */
    static BackupReplica.HandedOver handOver(BackupReplica r) {
        synchronized (r.lock) {
            ReplicaStager s = r.cutStream();
            if (r.isActivated() || r.committed == null || r.unusable() != null || !r.committedDisks.isEmpty()
                    || r.lineage == null) {
                return null;
            }
            if (s != null && s.replica != r.committed) {
                s.replica.close();
                r.closeDisks(s.disks);
            }
            r.current = null;
            r.dropPreparedOutputs("the engine is being updated");
            ReplicaSpec spec = r.committed.spec();
            r.committed.detach();
            r.committed = null;
            r.show(ProtectionState.STOPPED, "handed over to the next engine");
            return new BackupReplica.HandedOver(r.id(), r.lineage, r.committedEpoch, r.primaryNode, r.options,
                    r.returnAddress, spec.memoryBytes(), spec.pageSize());
        }
    }

    /** Makes {@code fresh} the replica {@code h} describes, which its binding adopted as {@code replica}. */
    static BackupReplica restored(BackupReplica.HandedOver h, Replica replica, BackupReplica fresh) {
        synchronized (fresh.lock) {
            fresh.committed = replica;
            fresh.committedEpoch = h.committedEpoch();
            fresh.lineage = h.lineage();
            fresh.primaryNode = h.primaryNode();
            fresh.options = Map.copyOf(h.options());
            fresh.returnAddress = h.returnAddress();
            fresh.show(ProtectionState.STANDBY, "handed over by the previous engine at checkpoint "
                    + h.committedEpoch() + "; waiting for the primary to resume");
        }
        return fresh;
    }
}
