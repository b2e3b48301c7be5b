package io.romulus.engine.internal;

import java.util.concurrent.TimeUnit;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.hypervisor.DomainId;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the new primary's part of a switchover's blackout goes: the steps from the hand-over ("go") to the release of
 * the first output, each in milliseconds since "go" arrived. Steps are marked from the engine's threads as they
 * happen; the first acknowledged checkpoint ends the timeline, which is logged on one line
 * ({@code SWITCHOVER timeline of DOMAIN: ...}, which {@code scripts/bench-failover --switchover} reads).
 */
final class HandOverTimeline {

    private static final Logger LOG = LoggerFactory.getLogger(HandOverTimeline.class);

    private final DomainId id;
    private final long epoch;
    private final long start;
    @GuardedBy("this")
    private final StringBuilder steps = new StringBuilder();
    @GuardedBy("this")
    private boolean ended;
    /** When the domain was let run ({@link System#nanoTime}), or 0 before. */
    @GuardedBy("this")
    private long running;

    /** The hand-over of {@code id} at checkpoint {@code epoch} arrived at {@code start} ({@link System#nanoTime}). */
    HandOverTimeline(DomainId id, long epoch, long start) {
        this.id = id;
        this.epoch = epoch;
        this.start = start;
    }

    /** Step {@code what} happened now; ignored once the timeline ended. */
    void mark(String what) {
        markAt(what, System.nanoTime());
    }

    /**
     * Step {@code what} happened at {@code nanos} ({@link System#nanoTime}; before the hand-over arrived, it is marked
     * with the negative milliseconds); ignored once the timeline ended.
     */
    synchronized void markAt(String what, long nanos) {
        if (ended) {
            return;
        }
        if (steps.length() > 0) {
            steps.append(", ");
        }
        long ns = nanos - start;
        steps.append(what).append(' ').append(ns >= 0 ? TimeUnit.NANOSECONDS.toMillis(ns)
                : -TimeUnit.NANOSECONDS.toMillis(-ns));
    }

    /** The domain runs from now on: marked as {@code running}. */
    synchronized void running() {
        running = System.nanoTime();
        mark("running");
    }

    /**
     * When the domain was let run ({@link System#nanoTime}), or {@code orElse} before: the first checkpoint's
     * interval counts from there, not from when the stream back came up.
     */
    synchronized long runningSince(long orElse) {
        return running != 0 ? running : orElse;
    }

    /** The first checkpoint after the hand-over was acknowledged and its output released: logs the timeline. */
    void released(long acked) {
        String line;
        synchronized (this) {
            if (ended) {
                return;
            }
            mark("output released (checkpoint " + acked + " acknowledged)");
            ended = true;
            line = steps.toString();
        }
        LOG.info("SWITCHOVER timeline of {} from checkpoint {}, ms after the hand-over: {}", id, epoch, line);
    }

    @Override
    public synchronized String toString() {
        return steps.toString();
    }
}
