package io.romulus.itests.e2e;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;

/**
 * A guest paused as checkpoints pause it, without protection: every {@code intervalMs} (start to start, as the epoch
 * loop's interval is its period) {@code stop}, the device-state capture and {@code cont} through the binding, nothing
 * sent, no output held. What a workload keeps of its speed under these pauses alone is the most any checkpointing at
 * that rate can leave it on this machine: the machine's floor, against which the protected phase is put. With
 * {@code withPages}, each pause also harvests the dirty log (the guest's writes are write-protected, as under
 * protection) and copies the written pages out, as a checkpoint's pause does: everything a checkpoint does to the
 * primary's guest but sending it.
 */
final class PauseCycles implements AutoCloseable {

    private static final int PAGE_SIZE = 4096;
    /** Pages copied per call: a checkpoint's copy goes to staging in the same way, in one pass. */
    private static final int STAGING_PAGES = 16_384;

    private final ProtectedDomain domain;
    private final long periodNanos;
    private final Thread thread;
    private final boolean withPages;
    private final ByteBuffer staging;
    private final long[] pauses = new long[1 << 16];
    private volatile boolean stopping;
    private volatile Exception failure;
    private int count;
    private long startedNanos;
    private long endedNanos;

    private PauseCycles(ProtectedDomain domain, int intervalMs, boolean withPages) {
        this.domain = domain;
        this.withPages = withPages;
        this.staging = withPages ? ByteBuffer.allocateDirect(STAGING_PAGES * PAGE_SIZE) : null;
        this.periodNanos = TimeUnit.MILLISECONDS.toNanos(intervalMs);
        this.thread = new Thread(this::run, "bench-pause-cycles");
    }

    /**
     * Starts pausing {@code domain} every {@code intervalMs}, with {@code withPages} harvesting its dirty log and
     * copying the pages in each pause (the log is started now and stopped by {@link #close()}).
     */
    static PauseCycles start(ProtectedDomain domain, int intervalMs, boolean withPages) throws HypervisorException {
        PauseCycles c = new PauseCycles(domain, intervalMs, withPages);
        if (withPages) {
            domain.startDirtyLog();
        }
        c.thread.start();
        return c;
    }

    /** What a workload did under pause cycles, the cycles themselves, and where the machine's time went meanwhile. */
    record Measured<T>(T result, PauseCycles cycles, CpuLedger.Phase cpu) {
    }

    /** A benchmark's workload, run while the cycles pause its guest. */
    interface Workload<T> {
        T run() throws Exception;
    }

    /**
     * Runs {@code workload} while {@code domain} is paused every {@code intervalMs} (see {@link #start}), and
     * accounts the machine's CPU over the run's nodes ({@link CpuLedger#nodes}) from before the cycles start to after
     * they stop.
     */
    static <T> Measured<T> measure(ProtectedDomain domain, int intervalMs, boolean withPages, Path run,
            Workload<T> workload) throws Exception {
        CpuLedger.Snapshot before = CpuLedger.nodes(run);
        T result;
        PauseCycles cycles = start(domain, intervalMs, withPages);
        try (cycles) {
            result = workload.run();
        }
        return new Measured<>(result, cycles, CpuLedger.between(before, CpuLedger.nodes(run)));
    }

    private void run() {
        startedNanos = System.nanoTime();
        long next = startedNanos;
        try {
            while (!stopping && count < pauses.length) {
                long t0 = System.nanoTime();
                domain.pause();
                if (withPages) {
                    long[] dirty = domain.harvestDirty();
                    for (int from = 0; from < dirty.length; from += STAGING_PAGES) {
                        staging.clear();
                        domain.copyPages(dirty, from, Math.min(STAGING_PAGES, dirty.length - from), staging);
                    }
                }
                domain.captureDeviceState();
                domain.resume();
                pauses[count++] = System.nanoTime() - t0;
                next += periodNanos;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                } else {
                    next = System.nanoTime(); // late: the period starts again from now, as the epoch loop's does
                }
            }
        } catch (HypervisorException | InterruptedException e) {
            failure = e;
        } finally {
            endedNanos = System.nanoTime();
        }
    }

    /** Stops the cycles (the guest is left running) and fails if a cycle failed. */
    @Override
    public void close() {
        stopping = true;
        try {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the pause cycles stop", e);
        }
        if (thread.isAlive()) {
            throw new IllegalStateException("the pause cycles did not stop");
        }
        if (withPages) {
            try {
                domain.stopDirtyLog();
            } catch (HypervisorException e) {
                throw new IllegalStateException("cannot stop the dirty log: " + e.getMessage(), e);
            }
        }
        if (failure != null) {
            throw new IllegalStateException("a pause cycle failed: " + failure.getMessage(), failure);
        }
    }

    /** Pauses a second, after {@link #close()}. */
    double perSecond() {
        return count / ((endedNanos - startedNanos) / 1e9);
    }

    /** The median pause in ms, after {@link #close()}. */
    double medianMillis() {
        long[] sorted = Arrays.copyOf(pauses, count);
        Arrays.sort(sorted);
        return BenchSupport.median(sorted) / 1e6;
    }

    /** The share of the time the guest was paused, after {@link #close()}. */
    double pausedShare() {
        return Arrays.stream(pauses, 0, count).sum() / (double) (endedNanos - startedNanos);
    }
}
