package io.romulus.engine.internal;

import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a protection ends, on the epoch loop's thread once it left its loop. Stopped (unprotect, retire): GOODBYE, so
 * the backup drops its replica; output passes; the lease is given back. Failed: the backup keeps its replica, and
 * output it never acknowledged is dropped (I3). Fenced (another node runs the domain): this copy is stopped first,
 * then what is held is dropped (I5). Handed over (the engine is updated): everything is let go of without ending the
 * protection, for the next engine to adopt.
 */
final class ProtectionTeardown {

    private static final Logger LOG = LoggerFactory.getLogger(ProtectionTeardown.class);

    private final DomainId id;
    private final DomainHandle domain;
    private final OutputCommit outputs;
    private final DiskCheckpoints disks;
    private final ReleaseGuard guard;
    private final BackupHeartbeats heartbeats;
    private final UnackedCheckpoints ledger;
    private final PrimaryStatus status;

    ProtectionTeardown(DomainId id, DomainHandle domain, OutputCommit outputs, DiskCheckpoints disks,
            ReleaseGuard guard, BackupHeartbeats heartbeats, UnackedCheckpoints ledger, PrimaryStatus status) {
        this.id = id;
        this.domain = domain;
        this.outputs = outputs;
        this.disks = disks;
        this.guard = guard;
        this.heartbeats = heartbeats;
        this.ledger = ledger;
        this.status = status;
    }

    /**
     * Ends the protection after its loop left; {@code s} is its last stream or null. Returns whether it was handed
     * over to the next engine.
     *
     * @param retiring    the domain is destroyed once protection ended (scale-down)
     * @param handingOver the engine is being updated
     */
    boolean shutdown(PrimaryStream s, boolean retiring, boolean handingOver) {
        heartbeats.close();
        ProtectionState state = status.state();
        boolean fenced = state == ProtectionState.FENCED;
        boolean failed = state == ProtectionState.FAILED;
        if (handingOver && !fenced && !failed) {
            handOver(s);
            return true;
        }
        if (s != null) {
            // an orderly GOODBYE lets the backup drop its replica; after a failure here it must keep it for failover
            s.close(failed || fenced ? status.detail() : null);
        }
        disks.close();
        if (fenced) {
            fence();
            return false;
        }
        if (!failed) {
            guard.releaseLease();
        }
        // after a failure the backup keeps its replica and may be activated from it: output it never acknowledged
        // must not leave (I3); later output flows once the buffer is gone
        outputs.close(failed);
        domain.end(retiring && !failed);
        if (!failed) {
            status.set(ProtectionState.STOPPED, "protection stopped");
        }
        LOG.info("Protection of {} ended ({})", id, status.state());
        return false;
    }

    /**
     * A switchover handed the domain to the backup ({@link PrimarySwitchover}): the stream, the output buffers, the
     * heartbeats, the domain and the lease went with it; the disks' primary sides end here.
     */
    boolean switchedOver() {
        disks.close();
        LOG.info("Protection of {} ended: the domain was switched over ({})", id, status.detail());
        return false;
    }

    /**
     * Another node runs the domain: stop this copy first, then drop what is held. In that order: once the output
     * buffer is closed nothing holds the guest's packets any more, so the guest must be gone by then (I5).
     */
    private void fence() {
        try {
            domain.destroy();
            LOG.warn("FENCED: {} was stopped on this node; its output since the last acknowledged checkpoint is "
                    + "dropped", id);
            disks.fence();
        } catch (HypervisorException | RuntimeException e) {
            LOG.error("FENCED: stopping {} on this node failed; its output stays held - stop it by hand, it must not "
                    + "run here", id, e);
            outputs.discard();
            return; // the buffers stay attached: whatever the copy still sends is held, never released
        }
        outputs.close(true);
    }

    /**
     * The engine is being updated: the stream ends with an ERROR (the backup keeps its replica), output stays held
     * (detached), the domain keeps running with its dirty log (detached).
     */
    private void handOver(PrimaryStream s) {
        if (s != null) {
            s.closePlanned("the primary's engine is being updated; the stream resumes with its next version");
        }
        // the disks' write logs end with their primary sides: the next engine copies the disks whole
        disks.close();
        outputs.detach();
        domain.detach();
        status.set(ProtectionState.STOPPED, "handed over to the next engine");
        LOG.info("Protection of {} handed over at checkpoint {} (acknowledged {}, {} checkpoints unacknowledged)", id,
                ledger.lastCheckpointed(), ledger.lastAcked(), ledger.unackedCount());
    }
}
