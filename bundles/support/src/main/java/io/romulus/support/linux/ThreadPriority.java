package io.romulus.support.linux;

import com.sun.jna.Memory;

/**
 * Raises the calling thread above the busy work of its host, for threads whose delay is a false suspicion or a late
 * failover: the failure detector's heartbeat sender and receiver. It asks for the real-time round-robin class
 * ({@code SCHED_RR}) at a low real-time priority, which needs root or {@code CAP_SYS_NICE}; failing that, the highest
 * nice level it may take; failing that, it leaves the thread as it is. It never throws: a node without the right runs
 * with normal priority, and says so.
 *
 * <p>Safe for threads that block (on a socket or a timer) between short bursts of work, which is all these threads do:
 * a real-time thread that spun would starve the host's other work of its core.
 */
public final class ThreadPriority {

    /** System property that, set to {@value #NORMAL}, leaves threads as they are (benchmarks compare both). */
    public static final String PROPERTY = "romulus.thread.priority";
    public static final String NORMAL = "normal";

    private static final int SCHED_RR = 2;
    private static final int PRIO_PROCESS = 0;
    private static final long SYS_GETTID_X86_64 = 186;
    private static final long SYS_GETTID_ARM64 = 178;

    private ThreadPriority() {
    }

    /**
     * Raises the calling thread: {@code SCHED_RR} at {@code realtimePriority} (1 to 99), else nice {@code -10}.
     *
     * @return what the thread runs with now, for the log: {@code "SCHED_RR 10"}, {@code "nice -10 (...)"} or
     *         {@code "normal priority (...)"} with the reason
     */
    public static String raiseCurrentThread(int realtimePriority) {
        if (NORMAL.equals(System.getProperty(PROPERTY))) {
            return "normal priority (" + PROPERTY + "=" + NORMAL + ")";
        }
        LibC libc;
        try {
            libc = LibcLoader.load("raising the failure detector's threads");
        } catch (NativeCallException | LinkageError e) {
            return "normal priority (" + e.getMessage() + ")";
        }
        try (Memory param = new Memory(4)) {
            param.setInt(0, realtimePriority);
            if (libc.sched_setscheduler(0, SCHED_RR, param) == 0) {
                return "SCHED_RR " + realtimePriority;
            }
            String noRealtime = "no real-time class: " + Errno.description(LibcLoader.lastError());
            long tid = libc.syscall(com.sun.jna.Platform.isARM() ? SYS_GETTID_ARM64 : SYS_GETTID_X86_64);
            if (tid > 0 && libc.setpriority(PRIO_PROCESS, (int) tid, -10) == 0) {
                return "nice -10 (" + noRealtime + ")";
            }
            return "normal priority (" + noRealtime + "; nor nice -10: " + Errno.description(LibcLoader.lastError())
                    + ")";
        } catch (LinkageError | RuntimeException e) {
            return "normal priority (" + e + ")";
        }
    }
}
