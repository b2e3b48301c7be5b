package io.romulus.engine.internal;

import java.util.List;
import java.util.concurrent.TimeUnit;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The epoch loop of one protected domain (ARCHITECTURE.md section 3), on a thread of its own.
 *
 * <p>Per epoch N ({@link #checkpoints}): run for the interval; wait for room (back-pressure); seal output N; pause,
 * harvest the dirty pages, copy them and the device state to a staging buffer, take the disks' barrier N, resume (the
 * pause covers local copies only); hand N to the sender ({@link PrimaryStream}), which streams it while the domain
 * already runs N+1; on ACK(N) ({@link #acknowledged}, on a transport thread) output N is released
 * ({@link OutputCommit}) and the disks commit N ({@link DiskCheckpoints}). Two staging buffers alternate, so epoch N+2 waits for the sending of N to finish, and at
 * most {@code maxInflightEpochs} checkpoints wait for their ACK: a slow link or backup lengthens the epoch, it never
 * grows memory. The interval each epoch runs for is the status's current one: the set interval, or what the adaptive
 * interval ({@link AdaptiveInterval}) makes of it after each checkpoint from the wait for room, the pause and the
 * output the epoch held.
 *
 * <p>Around it ({@link #run}): each stream to the backup ({@link BackupLink}) starts with an initial copy
 * ({@link InitialSync}) or resumes the replica the backup holds; a stream that breaks is reconnected while output is
 * held; protection ends in {@link ProtectionTeardown}. While the binding is away (a bundle update) no checkpoint is
 * taken and output stays held ({@link DomainHandle}).
 */
final class EpochLoop {

    private static final Logger LOG = LoggerFactory.getLogger(EpochLoop.class);

    private final DomainId id;
    private final EngineSettings settings;
    private final boolean verify;
    private final DomainHandle domain;
    private final OutputCommit outputs;
    private final DiskCheckpoints disks;
    private final UnackedCheckpoints ledger;
    private final PrimaryStatus status;
    private final BackupHeartbeats heartbeats;
    private final EpochHistory history;
    private final BackupLink link;
    private final InitialSync initialSync;
    private final ProtectionTeardown teardown;
    private final PrimarySwitchover switchover;
    private final LoopSignal signal;
    /** The domain was adopted from a previous engine: its dirty log runs already. */
    private final boolean adopted;
    private final Thread thread;
    /** Times the parts of each pause; used by the loop's thread only. */
    private final PauseClock clock = new PauseClock();

    // set by the engine's threads before they ask the loop to stop, read by the loop as it ends
    private volatile boolean retiring;
    private volatile boolean handingOver;
    /** Set by the loop as it ends; read after a join that may time out, so it is published lock-free. */
    private volatile boolean handedOver;
    /** Set by the loop when a switchover handed the domain to the backup, before it ends. */
    private volatile boolean switchedOver;

    /** A switchover handed the domain to this node: its steps until the first output is released, or null. */
    private volatile HandOverTimeline handOverTimeline;

    /** The current stream, published lock-free for the status and for a stop that cannot wait for the loop. */
    private volatile PrimaryStream stream;

    EpochLoop(DomainId id, EngineSettings settings, boolean verify, DomainHandle domain, OutputCommit outputs,
            DiskCheckpoints disks, UnackedCheckpoints ledger, PrimaryStatus status, BackupHeartbeats heartbeats,
            EpochHistory history, BackupLink link, InitialSync initialSync, ProtectionTeardown teardown,
            PrimarySwitchover switchover, LoopSignal signal, boolean adopted) {
        this.id = id;
        this.settings = settings;
        this.verify = verify;
        this.domain = domain;
        this.outputs = outputs;
        this.disks = disks;
        this.ledger = ledger;
        this.status = status;
        this.heartbeats = heartbeats;
        this.history = history;
        this.link = link;
        this.initialSync = initialSync;
        this.teardown = teardown;
        this.switchover = switchover;
        this.signal = signal;
        this.adopted = adopted;
        this.thread = new Thread(this::run, "romulus-epoch-" + id);
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Times this node's part of the switchover that handed the domain to it, until its first output leaves. */
    void timeHandOver(HandOverTimeline timeline) {
        handOverTimeline = timeline;
    }

    /** The current stream, or null before the first. */
    PrimaryStream stream() {
        return stream;
    }

    /**
     * Stops the loop at an epoch boundary and waits for it to end; {@code retire} destroys the domain afterwards.
     * Should the loop hang, its stream is closed under it.
     */
    void stop(boolean retire) throws InterruptedException {
        retiring = retire;
        signal.requestStop();
        thread.join(TimeUnit.SECONDS.toMillis(30));
        if (thread.isAlive()) {
            LOG.warn("Epoch loop of {} did not stop within 30 s; closing the stream under it", id);
            PrimaryStream s = stream;
            if (s != null) {
                s.close();
            }
            thread.join(TimeUnit.SECONDS.toMillis(5));
        }
    }

    /** Stops the loop for the next engine; returns whether everything was let go of for it to adopt. */
    boolean handOver() throws InterruptedException {
        handingOver = true;
        stop(false);
        return handedOver;
    }

    // ------------------------------------------------------------------------------------------------ the epochs

    /** Checkpoints on one stream, epoch after epoch, until it breaks or the protection stops. */
    private void checkpoints(PrimaryStream s) throws InterruptedException, HypervisorException, LinkLostException {
        HandOverTimeline handOver = handOverTimeline;
        // when the domain last resumed: after a switchover, when it was let run (before its stream back was up)
        long epochStart = handOver == null ? System.nanoTime() : handOver.runningSince(System.nanoTime());
        long periodStart = epochStart; // when the last checkpoint's pause began
        long epochStartMillis = System.currentTimeMillis();
        long held = outputs.packetsHeld();
        long cpu = ThreadCpu.now();
        while (true) {
            s.check();
            disks.commitAcknowledged();
            if (signal.stopping()) {
                drain(s);
                disks.commitAcknowledged();
                return;
            }
            // the domain runs until the interval since the last checkpoint began is over; until the first output
            // after a switchover is released, a fifth of the interval after it resumed: what the domain answers to
            // the requests that waited for it leaves that much sooner. An operator's switchover ends the epoch at
            // once: its final checkpoint does not wait for the interval
            long intervalMs = status.currentIntervalMs();
            long deadline = handOverTimeline == null ? nextCheckpoint(periodStart, epochStart, intervalMs)
                    : epochStart + Math.max(1, TimeUnit.MILLISECONDS.toNanos(intervalMs) / 5);
            long now;
            while (!signal.stopping() && !switchover.requested() && (now = System.nanoTime()) < deadline) {
                signal.awaitNanos(deadline - now);
                s.check();
                disks.commitAcknowledged();
            }
            if (signal.stopping()) {
                continue;
            }
            // back-pressure: a free staging buffer and room in the ACK window
            long epoch = ledger.nextEpoch();
            long waitStart = System.nanoTime();
            waitForRoom(s, epoch);
            long waited = System.nanoTime() - waitStart;
            if (signal.stopping()) {
                continue;
            }
            StagingBuffer staging = s.staging(epoch);
            ProtectedDomain d = awaitDomain(s);
            if (d == null) {
                continue;
            }
            // seal, pause, harvest, copy, device state, disk barrier, resume; for a switchover the domain stays
            // paused (and locked) until it is handed over or the switchover aborts
            PrimarySwitchover.Request sw = switchover.take();
            Paused paused;
            boolean stayLocked = false;
            try {
                paused = pause(d, epoch, s, staging, sw != null);
                stayLocked = sw != null;
            } catch (HypervisorException | LinkLostException | RuntimeException | Error e) {
                if (sw != null) {
                    d.takeInbound(); // dropped: the domain resumes here, and what it was sent is retransmitted
                    sw.result.completeExceptionally(new IllegalStateException("switchover of " + id + " aborted: "
                            + "its final checkpoint failed: " + e));
                }
                throw e;
            } finally {
                if (!stayLocked) {
                    domain.unlock();
                }
            }
            List<List<DiskWrite>> diskWrites = s.withResendWrites(paused.diskWrites);
            long pauseEnd = System.nanoTime();
            long pauseNanos = pauseEnd - paused.start;

            long cpuNow = ThreadCpu.now();
            history.add(epoch, epochStartMillis, paused.start - epochStart, staging.pageCount(), pauseNanos,
                    clock.parts(), cpu < 0 ? -1 : cpuNow - cpu, paused.writeFaults);
            cpu = cpuNow;
            ledger.checkpointTaken(epoch, paused.diskWrites, pauseEnd);
            // the output the guest sent during the epoch, held until its ACK, may shorten the next (adaptive)
            long heldNow = outputs.packetsHeld();
            status.checkpointTaken(pauseNanos, staging.pageCount(), waited, Math.max(0, heldNow - held));
            held = heldNow;
            epochStart = pauseEnd;
            periodStart = paused.start;
            epochStartMillis = System.currentTimeMillis();
            if (LOG.isTraceEnabled()) {
                LOG.trace("{} epoch {}: {} dirty pages, pause {} us", id, epoch, staging.pageCount(), pauseNanos / 1000);
            }
            // hand N to the sender; its ACK releases output N (acknowledged, below)
            s.sendAsync(epoch, staging, paused.deviceState, diskWrites);
            HandOverTimeline t = handOverTimeline;
            if (t != null) {
                t.mark("checkpoint " + epoch + " sent");
            }
            if (sw != null) {
                boolean done;
                try {
                    done = switchover.handOver(sw, s, d, epoch);
                } finally {
                    domain.unlock();
                }
                if (done) {
                    switchedOver = true;
                    signal.requestStop();
                    return;
                }
                epochStart = System.nanoTime();
                periodStart = epochStart;
            }
        }
    }

    /**
     * When the next checkpoint's pause begins: one interval after the last one's began, so that a 25 ms interval is
     * 40 checkpoints a second (ARCHITECTURE.md section 3) and the pause is part of the epoch, not added to it. The
     * domain still runs at least a quarter of the interval after each resume: when the pause and the wait for room
     * take most of the interval, checkpoints come less often rather than back to back (the adaptive interval
     * lengthens such epochs where it is on).
     *
     * @param periodStart when the last checkpoint's pause began (or protection started)
     * @param runStart    when the domain resumed after it
     */
    static long nextCheckpoint(long periodStart, long runStart, long intervalMs) {
        long interval = TimeUnit.MILLISECONDS.toNanos(intervalMs);
        return Math.max(periodStart + interval, runStart + interval / 4);
    }

    /** What the pause of one checkpoint took: when it started (its parts are in the clock), and what it captured. */
    private static final class Paused {

        final long start;
        final byte[] deviceState;
        /** The epoch's own disk writes, per disk. */
        final List<List<DiskWrite>> diskWrites;
        /** The binding's write-protect faults behind the harvest, or -1. */
        final long writeFaults;

        Paused(long start, byte[] deviceState, List<List<DiskWrite>> diskWrites, long writeFaults) {
            this.start = start;
            this.deviceState = deviceState;
            this.diskWrites = diskWrites;
            this.writeFaults = writeFaults;
        }
    }

    /**
     * The pause of checkpoint {@code epoch}, with the domain locked: seals its output (a switchover's final one: after
     * the domain stopped), pauses the domain, harvests
     * the dirty pages (with any a resumed stream sends again), copies them into {@code staging}, takes the disks'
     * barrier, captures the device state and resumes the domain (in one go where the binding can). The
     * {@link #clock} times each part.
     */
    private Paused pause(ProtectedDomain d, long epoch, PrimaryStream s, StagingBuffer staging, boolean stayPaused)
            throws HypervisorException, LinkLostException {
        if (stayPaused) {
            // a switchover's final pause: what reaches the domain from now on, which it will not read here, is kept
            // for the new primary (sent with "go")
            d.keepInbound();
        } else {
            outputs.seal(epoch);
        }
        d.takeHandOffNanos(); // hand-offs of calls outside the pause are none of its parts
        long pauseStart = System.nanoTime();
        clock.start(pauseStart);
        d.pause();
        clock.lap(PauseClock.STOP, d.takeHandOffNanos());
        if (stayPaused) {
            // a switchover's final checkpoint: sealed once the domain stopped, so that all it sent belongs to N, which
            // has it, and leaves at ACK(N); sealed before the pause, what it sent meanwhile would be N+1's, which
            // never comes on this node
            outputs.seal(epoch);
        }
        boolean resumed = false;
        boolean taken = false;
        try {
            long[] harvested = d.harvestDirty();
            long faults = d.writeFaultsOfLastHarvest();
            long[] dirty = s.withResendPages(harvested);
            staging.prepare(dirty);
            clock.lap(PauseClock.HARVEST, 0);
            for (int i = 0; i < staging.segmentCount(); i++) {
                d.copyPages(dirty, staging.segmentFrom(i), staging.segmentPageCount(i), staging.segment(i));
            }
            clock.lap(PauseClock.COPY, 0);
            ledger.pagesTaken(epoch, harvested);
            clock.skip();
            // the disks' barrier before the device state: the paused domain writes nothing, so either order cuts
            // the same writes, and the device state's command may then resume the domain in the same breath
            List<List<DiskWrite>> writes;
            try {
                writes = disks.barrier(epoch);
            } catch (LinkLostException e) {
                ledger.skip(epoch); // its output was sealed; the next stream's first checkpoint releases it
                throw e;
            }
            clock.lap(PauseClock.DISK_BARRIER, 0);
            byte[] bindingState;
            int digest = 0;
            if (verify || stayPaused) {
                // the digest reads the paused memory: the domain resumes after it (or stays paused for a switchover)
                bindingState = d.captureDeviceState();
                digest = verify ? MemoryDigest.of(d) : 0;
            } else {
                // with cont pipelined behind it, its round trip is part of the device state's
                bindingState = d.captureDeviceStateAndResume();
                resumed = true;
            }
            clock.lap(PauseClock.DEVICE_STATE, d.takeHandOffNanos());
            taken = true;
            return new Paused(pauseStart, new DeviceStateEnvelope(bindingState, verify, digest).encode(), writes,
                    faults);
        } finally {
            if (!resumed && !(stayPaused && taken)) {
                d.resume();
                clock.lap(PauseClock.CONT, d.takeHandOffNanos());
            }
        }
    }

    /**
     * ACK(N), on a transport thread: N and every checkpoint before it are committed on the backup, so output N
     * leaves, the resend set forgets them, and the disks commit N (when the loop next wakes). The ACK of a stream's
     * initial copy releases nothing (the copy is not a consistent state) and is only progress
     * ({@link PrimaryStream#progressed}).
     */
    void acknowledged(PrimaryStream s, long epoch) {
        if (epoch == s.initialEpoch()) {
            s.progressed();
            signal.signal();
            return;
        }
        s.acknowledged();
        if (!ledger.acknowledged(epoch)) {
            return; // an ACK at least as new came first
        }
        outputs.release(epoch);
        HandOverTimeline t = handOverTimeline;
        if (t != null) {
            handOverTimeline = null;
            t.released(epoch);
        }
        Long pauseEnd = ledger.takePauseEnd(epoch);
        if (pauseEnd != null) {
            history.acknowledged(epoch, System.nanoTime() - pauseEnd);
        }
        heartbeats.alive();
        status.acknowledged(epoch);
        signal.signal();
    }

    /**
     * The domain, locked for this checkpoint; while its binding is away (a bundle update) waits with output held,
     * and returns null when the protection stops meanwhile.
     */
    /**
     * Waits while the binding is away (a bundle update): a stream started now could copy nothing and would end at
     * once, so reconnecting before the binding is back would only spin.
     */
    private void awaitBinding() throws InterruptedException {
        while (!signal.stopping() && !domain.present()) {
            signal.awaitNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }

    private ProtectedDomain awaitDomain(PrimaryStream s) throws InterruptedException, LinkLostException {
        boolean waited = false;
        while (!signal.stopping()) {
            ProtectedDomain d = domain.lockIfPresent();
            if (d != null) {
                if (waited) {
                    LOG.info("{}: the '{}' binding is back; checkpoints go on", id, domain.binding());
                }
                return d;
            }
            waited = true;
            s.check();
            signal.awaitNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        return null;
    }

    /** Waits until the staging buffer of {@code epoch} is free and the ACK window has room. The domain keeps running. */
    private void waitForRoom(PrimaryStream s, long epoch) throws InterruptedException, LinkLostException {
        while (!signal.stopping()) {
            s.check();
            if (hasRoom(s, epoch)) {
                return;
            }
            // a link that drops packets silently breaks no connection: no ACK for too long is a lost link.
            // Before the stream's first ACK the initial copy may legitimately take longer to reach a slow
            // backup: until then a stream still taking bytes is alive (a silent link stops taking them as soon
            // as the socket's buffer is full). Afterwards only ACKs count, so a backup that goes on reading but
            // no longer acknowledges (it took the domain over) is left, and the new stream learns why
            // Until that first ACK the backup may still be installing a copy that the sockets' buffers delivered
            // long after the last byte left here (a busy or lossy link), and while the backup's heartbeats still
            // arrive the stream is in TCP's loss recovery, not lost: a new connection over the same path would only
            // start cold (a lost SYN alone costs a second). Either gets the whole link timeout.
            // While the sender is still in the middle of a checkpoint, bytes taken count too: a checkpoint of
            // gigabytes may take longer than the timeout to cross the link, and only its end can be acknowledged
            // (a backup that took the domain over refuses the checkpoint's first record, which breaks the stream)
            long silent = System.nanoTime() - s.progressNanos();
            long timeoutMs = s.acked() && !heartbeats.heardWithin(ackTimeoutMs()) ? ackTimeoutMs()
                    : Math.max(ackTimeoutMs(), settings.linkTimeoutMs());
            if (silent > TimeUnit.MILLISECONDS.toNanos(timeoutMs)) {
                long out = s.acked() && !s.sending() ? s.bytesOut() : link.bytesOut();
                if (out > s.bytesOut()) {
                    s.bytesOut(out);
                    continue;
                }
                throw new LinkLostException("no ACK from the backup for " + TimeUnit.NANOSECONDS.toMillis(silent)
                        + " ms");
            }
            signal.awaitUnless(() -> signal.stopping() || hasRoom(s, epoch), TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    private boolean hasRoom(PrimaryStream s, long epoch) {
        boolean stagingFree = s.sentThrough() >= epoch - 2 || epoch - 2 <= s.initialEpoch();
        long acked = Math.max(ledger.lastAcked(), s.initialEpoch());
        return stagingFree && epoch - 1 - acked < settings.maxInflightEpochs();
    }

    /**
     * How long checkpoints may wait for an ACK before the backup counts as lost: a third of the link timeout, at
     * least a second. Output stays held meanwhile; the link timeout then runs from the loss.
     */
    private long ackTimeoutMs() {
        return Math.max(1000, settings.linkTimeoutMs() / 3);
    }

    /** On unprotect: give the last checkpoints a moment to be acknowledged so their output goes out committed. */
    private void drain(PrimaryStream s) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (!drained(s) && System.nanoTime() < deadline) {
            signal.awaitUnless(() -> drained(s), TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    private boolean drained(PrimaryStream s) {
        return ledger.lastAcked() >= ledger.lastCheckpointed() || s.failed();
    }

    // ------------------------------------------------------------------------------------------------ the streams

    /**
     * Stream after stream until the protection ends: connect (holding output, then unprotected, I4), initial copy or
     * resume, checkpoints; a broken stream degrades the protection and reconnects, a taken-over domain fences it.
     */
    private void run() {
        long lostSince = System.nanoTime();
        boolean everConnected = false;
        try {
            if (!adopted) {
                domain.startDirtyLog();
            }
            while (!signal.stopping()) {
                PrimaryStream s = link.connect(lostSince, everConnected, this::acknowledged);
                if (s == null) {
                    break;
                }
                everConnected = true;
                stream = s;
                HandOverTimeline t = handOverTimeline;
                if (t != null) {
                    t.mark("stream back up");
                }
                try {
                    if (s.resumedFrom() >= 0) {
                        link.resumed(s);
                    } else {
                        initialSync.copy(s);
                    }
                    checkpoints(s);
                } catch (LinkLostException e) {
                    FencedException taken = ReleaseGuard.takenOver(e);
                    if (taken != null) {
                        throw taken;
                    }
                    if (signal.stopping() && !handingOver && !s.failed()) {
                        // stopped (unprotect, retire) during the initial copy while the link is up: the stream ends
                        // with GOODBYE in the teardown, so the backup drops its replica as after any other stop
                        break;
                    }
                    lostSince = System.nanoTime();
                    // ERROR, not GOODBYE: should the link come back, the backup must keep its replica
                    s.close("link lost: " + e.getMessage());
                    if (!ledger.resumable()) {
                        // the next stream copies the disks whole: no write log needs to grow meanwhile
                        disks.close();
                    }
                    if (!signal.stopping()) {
                        status.set(ProtectionState.DEGRADED, "backup lost (" + e.getMessage()
                                + "); output held, reconnecting");
                        LOG.warn("Protection of {} degraded: {}; output is held while reconnecting to {} for up to {}"
                                + " ms", id, e.getMessage(), status.peer(), settings.linkTimeoutMs());
                    }
                    awaitBinding();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (FencedException e) {
            status.fenced(e.getMessage());
        } catch (HypervisorException e) {
            if (signal.stopping() && !handingOver) {
                // unprotect, retire or shutdown had asked for the end: the domain was stopped or let go of as part of
                // that teardown, so the protection ends as asked (GOODBYE), not as a failure. A domain that vanishes
                // while protected fails it below, with the alarm
                LOG.info("{} went away while its protection was stopping ({}); the protection ends as asked", id,
                        e.getMessage());
            } else {
                failed(e);
            }
        } catch (RuntimeException | Error e) {
            // an Error too (a full disk under a mapped file, a bug in a binding): never end the protection silently
            failed(e);
        } finally {
            switchover.ended();
            handedOver = switchedOver ? teardown.switchedOver() : teardown.shutdown(stream, retiring, handingOver);
        }
    }

    /** Checkpointing failed while the domain was protected: the operator is alarmed (FAILED). */
    private void failed(Throwable e) {
        LOG.error("Protection of {} failed; output it held is dropped, the backup keeps its replica, and the domain"
                + " (if it still runs) continues UNPROTECTED", id, e);
        // an Error's class says more than its message (often none)
        String why = e instanceof Error || e.getMessage() == null ? e.toString() : e.getMessage();
        status.failed("checkpointing failed: " + why);
    }
}
