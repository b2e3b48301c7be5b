package io.romulus.engine.internal;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The CPU time of the calling thread, for the engine's own cost per checkpoint ({@link EpochHistory}): a clock read,
 * no allocation. -1 where the JVM cannot tell.
 */
final class ThreadCpu {

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final boolean SUPPORTED = THREADS.isCurrentThreadCpuTimeSupported();

    private ThreadCpu() {
    }

    /** The calling thread's CPU time, ns, or -1. */
    static long now() {
        return SUPPORTED ? THREADS.getCurrentThreadCpuTime() : -1;
    }

    /** The calling thread's CPU time since {@code start} (a {@link #now()} on the same thread), or -1. */
    static long since(long start) {
        return start < 0 ? -1 : now() - start;
    }
}
