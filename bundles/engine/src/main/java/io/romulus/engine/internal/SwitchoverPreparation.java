package io.romulus.engine.internal;

import java.util.List;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A backup replica's preparation for a planned switchover (ARCHITECTURE.md section 6): at "prepare" the binding
 * prepares the activation at the committed checkpoint ({@link Replica#prepareActivation}: its standby loads the device
 * state and the guest's addresses move here) and the output buffers of the interfaces it will run with start being
 * attached ({@link PreparedOutputs}), without waiting for them; "go" takes the buffers, a later checkpoint or an abort
 * takes it all back. Not thread-safe: its {@link BackupReplica} calls it under its lock.
 */
final class SwitchoverPreparation {

    private static final Logger LOG = LoggerFactory.getLogger(SwitchoverPreparation.class);

    private final DomainId id;
    private final PreparedOutputs.Attacher attacher;
    /** The checkpoint the binding prepared the activation at, or -1. */
    private long prepared = -1;
    /** The output buffers attached at that "prepare", or null. */
    private PreparedOutputs outputs;
    /** The stream back to the old primary, opened at "prepare", or null. */
    private PreOpenedStream streamBack;

    SwitchoverPreparation(DomainId id, PreparedOutputs.Attacher attacher) {
        this.id = id;
        this.attacher = attacher;
    }

    /**
     * Has the binding of {@code committed} prepare the activation at {@code epoch}, and starts attaching the output
     * buffers of the interfaces it names. Returns whether it prepared; a binding that fails to prepare (logged)
     * activates from scratch at "go".
     */
    boolean prepare(Replica committed, long epoch) {
        try {
            if (!committed.prepareActivation(List.of())) {
                return false;
            }
            prepared = epoch;
            List<GuestInterface> nics = committed.preparedInterfaces();
            if (outputs == null && !nics.isEmpty()) {
                outputs = PreparedOutputs.attach(id, nics, attacher);
            }
            return true;
        } catch (HypervisorException | RuntimeException e) {
            LOG.warn("{}: preparing the switchover's activation at checkpoint {} failed ({}); \"go\" activates it "
                    + "from scratch", id, epoch, e.getMessage());
            return false;
        }
    }

    /**
     * A checkpoint is about to be applied to {@code committed} (null: none yet): a switchover prepared at an earlier
     * one did not happen, and the binding takes its preparation back ({@link Replica#unprepare}).
     */
    void drop(Replica committed) {
        dropOutputs("the switchover did not happen");
        dropStreamBack("the switchover did not happen");
        if (prepared < 0 || committed == null) {
            return;
        }
        LOG.info("{}: the switchover prepared at checkpoint {} did not happen; the preparation is taken back", id,
                prepared);
        prepared = -1;
        try {
            committed.unprepare();
        } catch (RuntimeException e) {
            LOG.warn("{}: taking back the switchover's preparation failed", id, e);
        }
    }

    /** Closes the output buffers "prepare" attached, if any (they held nothing). */
    void dropOutputs(String why) {
        PreparedOutputs p = takeOutputs();
        if (p != null) {
            p.close(why);
        }
    }

    /** The stream back to the old primary that "prepare" opened ({@code stream}, or null). */
    void streamBack(PreOpenedStream stream) {
        dropStreamBack("a later \"prepare\" opened another");
        streamBack = stream;
    }

    /** The stream back "prepare" opened, or null, for the protection of the domain taken over to own. */
    PreOpenedStream takeStreamBack() {
        PreOpenedStream p = streamBack;
        streamBack = null;
        return p;
    }

    /** Closes the stream back "prepare" opened, if any (the old primary keeps or drops its replica as before). */
    void dropStreamBack(String why) {
        PreOpenedStream p = takeStreamBack();
        if (p != null) {
            p.discard(why);
        }
    }

    /** The output buffers "prepare" attached, or null, for the activated domain's protection to own. */
    PreparedOutputs takeOutputs() {
        PreparedOutputs p = outputs;
        outputs = null;
        return p;
    }
}
