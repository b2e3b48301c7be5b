package io.romulus.api.engine;

/**
 * Where the pause of one checkpoint went (the seed paper's iteration breakdown, its Fig. 3). The parts do not overlap
 * and sum to at most the pause; the rest ({@link #otherNanos}) is the loop's own bookkeeping between them.
 *
 * @param stopNanos        the binding's pause call (QEMU: the QMP {@code stop} round trip), less its hand-offs
 * @param harvestNanos     collecting the dirty pages and preparing the staging buffer
 * @param copyNanos        copying the dirty pages to the staging buffer
 * @param deviceStateNanos capturing the device state (QEMU: {@code xen-save-devices-state} and reading its file), less
 *                         its hand-offs; with the resume where the binding resumes in the same call
 *                         ({@link io.romulus.api.hypervisor.ProtectedDomain#captureDeviceStateAndResume()})
 * @param diskBarrierNanos the disks' barrier
 * @param contNanos        the binding's resume call (QEMU: the QMP {@code cont} round trip), less its hand-offs; 0
 *                         where it went with the device state's
 * @param handOffNanos     waiting for another thread to hand over an answer (QEMU: from the QMP reader thread that
 *                         read a reply to the epoch thread running again)
 * @since 1.4
 */
public record PauseBreakdown(long stopNanos, long harvestNanos, long copyNanos, long deviceStateNanos,
        long diskBarrierNanos, long contNanos, long handOffNanos) {

    /** No breakdown: an epoch recorded before there was one. */
    public static final PauseBreakdown NONE = new PauseBreakdown(0, 0, 0, 0, 0, 0, 0);

    /** The sum of the parts. */
    public long sumNanos() {
        return stopNanos + harvestNanos + copyNanos + deviceStateNanos + diskBarrierNanos + contNanos + handOffNanos;
    }

    /** The part of {@code pauseNanos} that none of the parts covers; never negative. */
    public long otherNanos(long pauseNanos) {
        return Math.max(0, pauseNanos - sumNanos());
    }
}
