package io.romulus.engine.internal;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.transport.CheckpointException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A backup replica's preparation for a planned switchover (ARCHITECTURE.md section 6): at "prepare" the binding
 * prepares the activation at the committed checkpoint ({@link Replica#prepareActivation(List, Runnable)}: the guest's
 * addresses move here, then its standby loads the device state) on a thread of its own; the backup answers "ready"
 * once the addresses moved ({@link #prepare}'s future), and the load runs beside the old primary's stop; "go" waits
 * for it ({@link #awaitLoad}). The output buffers of the
 * interfaces the binding names for the activation start being attached ({@link PreparedOutputs}) at once where it
 * names them ahead, else once it prepared, without waiting for them.
 * "go" takes the buffers, a later checkpoint or an abort takes it all back. A preparation that fails leaves the
 * replica to be activated from scratch, as a failover does.
 *
 * <p>Not thread-safe: its {@link BackupReplica} calls it under its lock ({@code lock}, given here), which the thread
 * that prepares takes too, so that no checkpoint is applied, and nothing activated, while the binding prepares.
 */
final class SwitchoverPreparation {

    private static final Logger LOG = LoggerFactory.getLogger(SwitchoverPreparation.class);
    /** How long "go" waits for a preparation in progress before it activates anyway (the binding's own limits are shorter). */
    private static final long LOAD_WAIT_MS = 60_000;

    private final DomainId id;
    private final Object lock;
    private final PreparedOutputs.Attacher attacher;
    /** The checkpoint the binding prepared the activation at, or -1. */
    private long prepared = -1;
    /** The output buffers attached at that "prepare", or null. */
    private PreparedOutputs outputs;
    /** The stream back to the old primary, opened at "prepare", or null. */
    private PreOpenedStream streamBack;
    /** The preparation under way (completed once it is done, whatever its outcome), or null. */
    private CompletableFuture<Void> loading;

    /** @param lock the lock its replica calls it under */
    SwitchoverPreparation(DomainId id, Object lock, PreparedOutputs.Attacher attacher) {
        this.id = id;
        this.lock = lock;
        this.attacher = attacher;
    }

    /**
     * Starts having the binding of {@code committed} prepare the activation at {@code epoch}, on a thread of its own,
     * and returns at once; once it prepared, {@code onPrepared} runs (under the lock) and the output buffers of the
     * interfaces it names start being attached. A binding that fails to prepare (logged) activates from scratch at
     * "go".
     *
     * @return completes once the binding said the guest's addresses moved here, or its preparation ended, whatever its
     *         outcome ("ready" may be answered then); exceptionally when the preparation was called off before it
     *         started (the replica is activated, dropped, or a later checkpoint is applied)
     */
    CompletableFuture<Void> prepare(Replica committed, long epoch, Runnable onPrepared) {
        // a binding that names the interfaces ahead of the preparation has their buffers attached beside it
        attachOutputs(committed);
        CompletableFuture<Void> done = new CompletableFuture<>();
        CompletableFuture<Void> moved = new CompletableFuture<>();
        long start = System.nanoTime();
        loading = done;
        Thread t = new Thread(() -> {
            try {
                synchronized (lock) {
                    if (loading != done) {
                        moved.completeExceptionally(new CheckpointException("the switchover's preparation of " + id
                                + " at checkpoint " + epoch + " was called off before it started"));
                        return;
                    }
                    loading = null;
                    if (prepareNow(committed, epoch, () -> addressesMoved(moved, epoch, start))) {
                        onPrepared.run();
                    } else {
                        // activated from scratch, it may run with other interfaces: they are attached then
                        dropOutputs("the switchover's preparation did not happen");
                    }
                }
            } finally {
                moved.complete(null); // the binding ended without saying: its end is the signal
                done.complete(null);
            }
        }, "romulus-switchover-prepare-" + id);
        t.setDaemon(true);
        t.start();
        return moved;
    }

    /** The binding said the guest's addresses reached this host: "ready" may be answered. */
    private void addressesMoved(CompletableFuture<Void> moved, long epoch, long start) {
        if (moved.complete(null)) {
            LOG.debug("{}: the guest's addresses moved here {} ms after \"prepare\" at checkpoint {}; answering "
                    + "\"ready\" while the preparation goes on", id,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), epoch);
        }
    }

    private boolean prepareNow(Replica committed, long epoch, Runnable addressesMoved) {
        long start = System.nanoTime();
        try {
            if (!committed.prepareActivation(List.of(), addressesMoved)) {
                return false;
            }
            prepared = epoch;
            attachOutputs(committed);
            LOG.debug("{}: the switchover's activation at checkpoint {} prepared in {} ms", id, epoch,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            return true;
        } catch (HypervisorException | RuntimeException e) {
            LOG.warn("{}: preparing the switchover's activation at checkpoint {} failed ({}); \"go\" activates it "
                    + "from scratch", id, epoch, e.getMessage());
            return false;
        }
    }

    /** Starts attaching the output buffers of the interfaces the binding names for the activation, unless it did. */
    private void attachOutputs(Replica committed) {
        List<GuestInterface> nics = committed.preparedInterfaces();
        if (outputs == null && !nics.isEmpty()) {
            outputs = PreparedOutputs.attach(id, nics, attacher);
        }
    }

    /** The preparation under way, or null; "go" waits for it ({@link #awaitLoad}) without holding the lock. */
    CompletableFuture<Void> loading() {
        return loading;
    }

    /** Waits for {@code load} ({@link #loading()}, null: none) to end; returns how long it waited (ms). */
    static long awaitLoad(CompletableFuture<Void> load) throws InterruptedException {
        if (load == null || load.isDone()) {
            return 0;
        }
        long start = System.nanoTime();
        try {
            load.get(LOAD_WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            // it never fails; one that does not end keeps the lock, which the activation waits for
        }
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    }

    /** A preparation that has not started yet does not (the replica is activated, dropped, or goes on). */
    void cancel() {
        loading = null;
    }

    /**
     * A checkpoint is about to be applied to {@code committed} (null: none yet): a switchover prepared at an earlier
     * one did not happen, and the binding takes its preparation back ({@link Replica#unprepare}).
     */
    void drop(Replica committed) {
        cancel();
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
