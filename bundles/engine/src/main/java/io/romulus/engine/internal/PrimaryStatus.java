package io.romulus.engine.internal;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a protection tells its operator: its state and the detail that explains it, the interval (the set one, and
 * the current one with its reason: {@link AdaptiveInterval}), the last pause, and the alarms raised when it changes
 * in a way that matters (unprotected, protected again, fenced, failed). The loop, the ACK thread and the engine's
 * threads all write and read it, under this object's monitor; alarms are raised outside it.
 */
final class PrimaryStatus {

    private static final Logger LOG = LoggerFactory.getLogger(PrimaryStatus.class);

    private final DomainId id;
    private final String peer;
    private final boolean verify;
    private final PrimaryProtection.Node node;

    @GuardedBy("this")
    private ProtectionState state = ProtectionState.CONNECTING;
    @GuardedBy("this")
    private String detail = "connecting to the backup";
    /** The set interval and the one the epochs run at now. */
    @GuardedBy("this")
    private final AdaptiveInterval interval;
    @GuardedBy("this")
    private long lastPauseNanos;
    @GuardedBy("this")
    private int lastDirty;
    /** Whether an UNPROTECTED alarm was raised, so that protection again raises PROTECTED. */
    @GuardedBy("this")
    private boolean raisedUnprotected;

    PrimaryStatus(DomainId id, String peer, boolean verify, int intervalMs, EngineSettings.IntervalPolicy policy,
            PrimaryProtection.Node node) {
        this.id = id;
        this.peer = peer;
        this.verify = verify;
        this.interval = new AdaptiveInterval(intervalMs, policy);
        this.node = node;
    }

    /** The backup's address, {@code host:port}. */
    String peer() {
        return peer;
    }

    synchronized ProtectionState state() {
        return state;
    }

    synchronized String detail() {
        return detail;
    }

    synchronized void set(ProtectionState state, String detail) {
        this.state = state;
        this.detail = detail;
    }

    synchronized void state(ProtectionState state) {
        this.state = state;
    }

    synchronized void detail(String detail) {
        this.detail = detail;
    }

    /** Whether protection ended: stopped, failed or fenced. */
    synchronized boolean ended() {
        return state == ProtectionState.STOPPED || state == ProtectionState.FAILED
                || state == ProtectionState.FENCED;
    }

    /** The interval the operator set. */
    synchronized int intervalMs() {
        return interval.targetMs();
    }

    /** The operator set another interval: the epochs run at it from the next one on. */
    synchronized void intervalMs(int ms) {
        interval.target(ms);
    }

    /** The interval the next epoch runs for: the set one, or what the adaptive interval made of it. */
    synchronized int currentIntervalMs() {
        return interval.currentMs();
    }

    /**
     * A checkpoint was taken, after the loop waited {@code waitedNanos} for room in the ACK window, with
     * {@code heldPackets} packets of output held from its epoch; the adaptive interval picks the next interval.
     */
    synchronized void checkpointTaken(long pauseNanos, int dirtyPages, long waitedNanos, long heldPackets) {
        lastPauseNanos = pauseNanos;
        lastDirty = dirtyPages;
        int before = interval.currentMs();
        int after = interval.checkpointTaken(waitedNanos, pauseNanos, heldPackets);
        if (after != before && LOG.isDebugEnabled()) {
            LOG.debug("{}: interval {} ms -> {} ms, {}", id, before, after, interval.describe());
        }
    }

    /** No backup for the link timeout: output passes, and the operator is told (I4). */
    void unprotected(String why) {
        synchronized (this) {
            state = ProtectionState.UNPROTECTED;
            raisedUnprotected = true;
        }
        node.alarms().raise(Alarm.Kind.UNPROTECTED, id, why);
    }

    /**
     * An ACK of a checkpoint: a protection that was syncing, degraded or unprotected is PROTECTED (again). ACKs flow,
     * so whatever the detail explained (a copy, a lost link, a resume) has ended: it is cleared on every ACK.
     */
    void acknowledged(long epoch) {
        boolean again;
        synchronized (this) {
            if (state == ProtectionState.PROTECTED) {
                detail = "";
                return;
            }
            if (state != ProtectionState.SYNCING && state != ProtectionState.DEGRADED
                    && state != ProtectionState.UNPROTECTED) {
                return;
            }
            state = ProtectionState.PROTECTED;
            detail = "";
            again = raisedUnprotected;
            raisedUnprotected = false;
        }
        LOG.info("{} is PROTECTED: checkpoint {} acknowledged by the backup at {}", id, epoch, peer);
        if (again) {
            node.alarms().raise(Alarm.Kind.PROTECTED, id, "protected again: checkpoint " + epoch
                    + " acknowledged by the backup at " + peer);
        }
    }

    void fenced(String why) {
        set(ProtectionState.FENCED, why);
        node.alarms().raise(Alarm.Kind.FENCED, id, why + "; this node's copy is stopped and the output it held is"
                + " dropped (I5)");
    }

    void failed(String why) {
        set(ProtectionState.FAILED, why);
        node.alarms().raise(Alarm.Kind.FAILED, id, why);
    }

    /**
     * What {@code romulus:status} shows. What can be told from the current state is derived here rather than stored,
     * so it ends with its cause: {@code bindingAway}, whether the binding is away now (a bundle update); {@code cpu},
     * the engine's own CPU time of the recent checkpoints.
     */
    synchronized ProtectionStatus status(long lastCheckpointed, long lag, boolean bindingAway, EngineCpu cpu) {
        String d = detail;
        if (bindingAway && !ended()) {
            d = join("the '" + id.binding() + "' binding is away (bundle update?); no checkpoint, output held", d);
        }
        if (interval.currentMs() != interval.targetMs() && !ended()) {
            d = join(d, "interval " + interval.currentMs() + " ms, " + interval.describe());
        }
        if (verify) {
            d = join(d, "verify on");
        }
        return new ProtectionStatus(id.toString(), Role.PRIMARY, state, Math.max(0, lastCheckpointed),
                interval.targetMs(), lastPauseNanos, lastDirty, lag, peer, d, interval.currentMs(),
                interval.describe(), cpu);
    }

    /** {@code first; then}, or whichever of them is not empty. */
    static String join(String first, String then) {
        return first.isEmpty() ? then : then.isEmpty() ? first : first + "; " + then;
    }
}
