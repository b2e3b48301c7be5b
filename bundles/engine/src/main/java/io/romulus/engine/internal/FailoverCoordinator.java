package io.romulus.engine.internal;

import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.engine.Alarm;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backup's side of failure detection (ARCHITECTURE.md section 6): watches the primary of every replica this node
 * holds, and when the failure detector convicts one, decides whether to activate the replica.
 *
 * <ul>
 * <li>{@code failover.mode = manual}: an alarm, and nothing else until the operator runs {@code romulus:failover}.</li>
 * <li>{@code automatic} with a witness: the backup takes the domain's lease first. While the primary holds it (alive
 * but cut off from this node) the backup does not activate; it asks again every reconnect delay for as long as the
 * primary stays suspected.</li>
 * <li>{@code automatic} without a witness: activate at once (split brain is possible if the primary is only cut
 * off; the documented risk of that configuration).</li>
 * </ul>
 *
 * <p>Decisions run on one thread of their own, never on the detector's.
 */
final class FailoverCoordinator implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(FailoverCoordinator.class);
    /** How often a backup refused the lease asks the witness again while the primary stays suspected. */
    private static final long WITNESS_RETRY_MS = 50;
    /** How long the FAILOVER alarm waits for the activated guest's first frame before it is raised without it. */
    private static final long FIRST_FRAME_WAIT_MS = 3_000;

    /** What the coordinator needs from the engine. */
    interface Engine {

        EngineSettings settings();

        FailureDetector detector();

        /** Reports that {@code consequence} follows from the node having no failure detector. */
        void noDetector(String consequence);

        Witness witness();

        Alarms alarms();

        /** Whether this node holds a replica of {@code id} with a committed checkpoint, not yet activated. */
        boolean canActivate(DomainId id);

        /** Activates the replica; the lease (if any) goes with the domain. Returns how it came to run. */
        Activation.Outcome activate(DomainId id, Witness.Lease lease) throws Exception;

        /** Planned switchover: the primary stopped its copy at {@code epoch}; the replica runs here from it. */
        void takeOver(DomainId id, long epoch);
    }

    private final Engine engine;
    private final Map<DomainId, Watch> watches = new ConcurrentHashMap<>();
    private final ScheduledExecutorService decisions = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "romulus-failover");
        t.setDaemon(true);
        return t;
    });

    FailoverCoordinator(Engine engine) {
        this.engine = engine;
    }

    /** A stream of {@code id} from {@code primaryNode} was accepted: watch that node (again). */
    void watch(DomainId id, String primaryNode) {
        watches.compute(id, (k, old) -> {
            if (old != null && old.primaryNode.equals(primaryNode) && old.monitor != null) {
                return old;
            }
            if (old != null) {
                old.close();
            }
            Watch w = new Watch(id, primaryNode);
            w.open();
            return w;
        });
    }

    /** Traffic from the primary of {@code id} (a committed checkpoint) proves it alive. */
    void heard(DomainId id) {
        Watch w = watches.get(id);
        if (w != null) {
            FailureDetector.Monitor m = w.monitor;
            if (m != null) {
                m.alive();
            }
        }
    }

    /**
     * The primary of {@code id} stopped its stream for an update of its own: for {@code graceMs} a conviction does not
     * activate the replica (the primary's heartbeats may pause while its bundles restart). A primary that is not back
     * by then is judged as usual, so a crash during an update delays failover by at most the grace.
     */
    void grace(DomainId id, long graceMs) {
        grace(id, graceMs, "is being updated");
    }

    /** {@link #grace(DomainId, long)}, the log saying why: the primary {@code why}. */
    void grace(DomainId id, long graceMs, String why) {
        Watch w = watches.get(id);
        if (w != null && graceMs > 0) {
            w.graceUntilNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMs);
            LOG.info("The primary {} of {} {}: no automatic failover for {} ms unless it stays silent longer",
                    w.primaryNode, id, why, graceMs);
        }
    }

    /**
     * The primary of {@code id} handed it over at {@code epoch} (planned switchover): no conviction is waited for, the
     * replica is activated at once, on the decisions' thread (never the transport's), and the old primary is no
     * longer watched.
     */
    void handedOver(DomainId id, long epoch) {
        forget(id);
        try {
            decisions.execute(() -> engine.takeOver(id, epoch));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            LOG.warn("Failover decisions have stopped; {} is not taken over", id, e);
        }
    }

    /** Stops watching (the replica was dropped or activated). */
    void forget(DomainId id) {
        Watch w = watches.remove(id);
        if (w != null) {
            w.close();
        }
    }

    /** The failure detector came or went: monitors are opened again with the current one. */
    void detectorChanged() {
        for (Watch w : watches.values()) {
            w.close();
            w.open();
        }
    }

    @Override
    public void close() {
        decisions.shutdownNow();
        watches.values().forEach(Watch::close);
        watches.clear();
    }

    /** The FAILOVER alarm's account of the guest's first frame here, when the binding saw it. */
    private static String firstFrame(OptionalLong first, long start, long lastHeard, boolean silenceUnknown) {
        if (first == null || first.isEmpty()) {
            return "; no guest packet seen out of it yet";
        }
        long at = first.getAsLong();
        return "; first guest packet out " + TimeUnit.NANOSECONDS.toMillis(at - start) + " ms after the "
                + "activation began, " + TimeUnit.NANOSECONDS.toMillis(at - lastHeard) + " ms after the primary was "
                + (silenceUnknown ? "suspected" : "last heard");
    }

    /** One watched primary. */
    private final class Watch implements FailureDetector.Listener {

        final DomainId id;
        final String primaryNode;
        volatile FailureDetector.Monitor monitor;
        /** The detector suspects the primary, and has not heard from it since. */
        @GuardedBy("this")
        private boolean suspected;
        /**
         * When a decision started activating the replica ({@link System#nanoTime()}), while it does; 0: none does. A
         * primary heard from before then is not failed over, after then it is.
         */
        @GuardedBy("this")
        private long failoverBeganNanos;
        volatile long suspectedAtNanos;
        /** How long the primary had been silent when it was suspected, in milliseconds (NaN: not known). */
        volatile double silenceAtSuspicion = Double.NaN;
        volatile long graceUntilNanos;
        private String lastRefusal;

        Watch(DomainId id, String primaryNode) {
            this.id = id;
            this.primaryNode = primaryNode;
        }

        void open() {
            FailureDetector d = engine.detector();
            if (d == null) {
                engine.noDetector("the primary " + primaryNode + " of " + id + " is not watched, and only "
                        + "romulus:failover activates the replica");
                return;
            }
            // the primary sends heartbeats here; their source address is where this node answers
            monitor = d.monitor(primaryNode, null, this);
        }

        void close() {
            FailureDetector.Monitor m = monitor;
            monitor = null;
            if (m != null) {
                m.close();
            }
        }

        @Override
        public void suspected(String peerId, double phi) {
            synchronized (this) {
                suspected = true;
            }
            suspectedAtNanos = System.nanoTime();
            FailureDetector.Monitor m = monitor;
            silenceAtSuspicion = m == null ? Double.NaN : m.silenceMillis();
            lastRefusal = null;
            try {
                decisions.execute(() -> decide(phi));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                LOG.debug("Failover decisions have stopped", e);
            }
        }

        @Override
        public void recovered(String peerId) {
            boolean was;
            long began;
            synchronized (this) {
                was = suspected;
                suspected = false;
                began = failoverBeganNanos;
            }
            if (began != 0) {
                LOG.warn("Primary {} of {} is heard from again {} ms after the failover began; the failover goes on",
                        primaryNode, id, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began));
            } else if (was) {
                LOG.info("Primary {} of {} is heard from again; no failover", primaryNode, id);
            }
        }

        private synchronized boolean stillSuspected() {
            return suspected;
        }

        /**
         * The decision to activate is taken, unless the primary was heard from since it was suspected: from here on
         * {@link #recovered} no longer says "no failover". Returns whether the activation is to start.
         */
        private synchronized boolean beginFailover() {
            if (!suspected) {
                return false;
            }
            failoverBeganNanos = System.nanoTime();
            return true;
        }

        private void decide(double phi) {
            if (!stillSuspected() || watches.get(id) != this) {
                return;
            }
            long grace = graceUntilNanos - System.nanoTime();
            if (grace > 0) {
                LOG.info("Primary {} of {} is suspected (phi {}) while it is being updated; judging again in {} ms",
                        primaryNode, id, String.format("%.1f", phi), TimeUnit.NANOSECONDS.toMillis(grace));
                try {
                    Future<?> unused = decisions.schedule(() -> decide(monitor == null ? Double.NaN : monitor.phi()), grace,
                            TimeUnit.NANOSECONDS);
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    LOG.debug("Failover decisions have stopped", e);
                }
                return;
            }
            if (!engine.canActivate(id)) {
                engine.alarms().raise(Alarm.Kind.PRIMARY_SUSPECTED, id, "primary " + primaryNode + " is suspected "
                        + "(phi " + String.format("%.1f", phi) + "), but this node has no committed checkpoint of it "
                        + "to activate");
                return;
            }
            EngineSettings s = engine.settings();
            if (s.failoverMode() == EngineSettings.FailoverMode.MANUAL) {
                engine.alarms().raise(Alarm.Kind.PRIMARY_SUSPECTED, id, "primary " + primaryNode + " is suspected "
                        + "(phi " + String.format("%.1f", phi) + "); failover.mode is manual: run romulus:failover "
                        + id + " on this node once the primary is known to be down");
                return;
            }
            Witness witness = engine.witness();
            Witness.Lease lease = null;
            if (witness != null) {
                try {
                    Optional<Witness.Lease> taken = witness.tryAcquire(id.toString(), s.nodeId());
                    if (taken.isEmpty()) {
                        String holder = witness.holder(id.toString()).orElse("another node");
                        refused("the witness (" + witness.describe() + ") says " + holder + " holds the lease of "
                                + id + ": the primary is alive but cut off from this node, so the replica is not "
                                + "activated");
                        return;
                    }
                    lease = taken.get();
                } catch (WitnessException e) {
                    refused("the witness (" + witness.describe() + ") cannot be asked (" + e.getMessage()
                            + "); the replica of " + id + " is not activated without it");
                    return;
                }
            }
            long convictedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - suspectedAtNanos);
            if (!beginFailover()) {
                // heard from while the witness was asked: recovered() said "no failover", and there is none
                if (lease != null) {
                    lease.close();
                }
                return;
            }
            Activation.Outcome outcome;
            long start = System.nanoTime();
            try {
                outcome = engine.activate(id, lease);
            } catch (Exception e) {
                synchronized (this) {
                    failoverBeganNanos = 0;
                }
                if (lease != null) {
                    lease.close();
                }
                engine.alarms().raise(Alarm.Kind.FAILED, id, "automatic failover of " + id + " failed: "
                        + e.getMessage());
                return;
            }
            long activated = System.nanoTime();
            forget(id);
            double silence = silenceAtSuspicion;
            String head = "primary " + primaryNode + " convicted "
                    + (Double.isNaN(silence) ? "" : "after " + Math.round(silence) + " ms of silence ")
                    + "(phi " + String.format("%.1f", phi) + ")"
                    + (witness == null ? "" : ", the lease taken " + convictedMs + " ms after suspicion")
                    + "; replica activated here in " + TimeUnit.NANOSECONDS.toMillis(activated - start) + " ms"
                    + (outcome.detail().isEmpty() ? "" : " (" + outcome.detail() + ")");
            long lastHeard = Double.isNaN(silence) ? suspectedAtNanos
                    : suspectedAtNanos - Math.round(silence * 1_000_000.0);
            // the alarm waits (bounded) for the guest's first frame, the last step of the failover as clients see it
            Future<?> unused = outcome.firstFrame().toCompletableFuture()
                    .completeOnTimeout(OptionalLong.empty(), FIRST_FRAME_WAIT_MS, TimeUnit.MILLISECONDS)
                    .whenCompleteAsync((first, failure) -> engine.alarms().raise(Alarm.Kind.FAILOVER, id, head
                            + firstFrame(first, start, lastHeard, Double.isNaN(silence))
                            + "; the domain runs on this node now (romulus:status shows whether it is protected back "
                            + "towards the node it came from)"), decisions);
        }

        /** The witness said no (or nothing): try again while the primary stays suspected. */
        private void refused(String why) {
            if (!why.equals(lastRefusal)) {
                lastRefusal = why;
                engine.alarms().raise(Alarm.Kind.WITNESS, id, why);
            }
            // the lease frees when the primary's ZooKeeper session expires: ask again soon, not a reconnect later
            long delay = Math.min(engine.settings().reconnectDelayMs(), WITNESS_RETRY_MS);
            try {
                Future<?> unused = decisions.schedule(() -> decide(monitor == null ? Double.NaN : monitor.phi()), delay,
                        TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                LOG.debug("Failover decisions have stopped", e);
            }
        }
    }
}
