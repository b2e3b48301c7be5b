package io.romulus.engine.internal;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

import com.google.errorprone.annotations.concurrent.GuardedBy;

/**
 * How the epoch loop of one protection is woken and told to stop. The loop waits here (for the interval, for room in
 * the ACK window, between reconnections); ACKs, the sender, a new interval, a new binding and a stop wake it. A
 * wait ends on a signal, a timeout or its condition, never on a spurious wake-up, and a signal between the loop's
 * check and its wait is not missed.
 */
final class LoopSignal {

    /** The longest single wait: the loop re-checks its conditions at least this often. */
    private static final long MAX_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition progress = lock.newCondition();
    /** How many signals were given: a wait ends when it changes. */
    @GuardedBy("lock")
    private long signals;
    /** Set once by any thread, read lock-free by the loop and the threads it waits on: a plain stop request. */
    private volatile boolean stopping;

    boolean stopping() {
        return stopping;
    }

    /** Asks the loop to stop at the next epoch boundary. */
    void requestStop() {
        stopping = true;
        signal();
    }

    /** Wakes the loop. */
    void signal() {
        lock.lock();
        try {
            signals++;
            progress.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Waits up to {@code nanos} (at most 50 ms), or not at all once stopping. */
    void awaitNanos(long nanos) throws InterruptedException {
        awaitUnless(() -> stopping, Math.min(nanos, MAX_WAIT_NANOS));
    }

    /** Waits up to {@code nanos} for a signal, unless {@code ready} holds (checked under the lock). */
    void awaitUnless(BooleanSupplier ready, long nanos) throws InterruptedException {
        lock.lock();
        try {
            long seen = signals;
            long left = nanos;
            while (left > 0 && signals == seen && !ready.getAsBoolean()) {
                left = progress.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }
}
