package io.romulus.engine.internal;

import java.util.Locale;

/**
 * The adaptive epoch interval (ARCHITECTURE.md section 3): after each checkpoint it looks at what that epoch showed and
 * picks the next interval, within bounds that include the interval the operator set (the target).
 *
 * <ul>
 * <li>The link or the backup cannot keep up: in {@value #PRESSURE_EPOCHS} epochs in a row the loop waited for room in
 * the ACK window (back-pressure) for more than a tenth of the interval. The interval grows by a quarter: fewer,
 * larger checkpoints need fewer round trips.</li>
 * <li>Pauses dominate: in {@value #PRESSURE_EPOCHS} epochs in a row the pause took more than {@value #PAUSE_HIGH} of
 * the interval, as a high dirty rate makes them. The interval grows by a quarter.</li>
 * <li>Output waits: the guest sent packets during the epoch (held until the ACK) and the pauses are short enough
 * (under {@value #PAUSE_LOW} of a shorter interval). The interval shrinks by a fifth: held output leaves sooner.</li>
 * <li>Otherwise, after {@value #CALM_EPOCHS} epochs in a row without back-pressure or long pauses, it steps back
 * towards the set interval (down only as far as the pauses stay clearly under {@value #PAUSE_HIGH} of it).</li>
 * </ul>
 * One long wait (TCP retransmitting on a lossy link) or one long pause (a busy host) is no trend: it lengthens
 * nothing, since a longer interval would only make every reply wait longer. Growing needs a few epochs of pressure in
 * a row, shrinking a few more of calm, so the two do not chase each other. In fixed mode the interval is the set
 * one. Pure arithmetic on what it is told: no clock, one thread (the epoch loop's).
 */
final class AdaptiveInterval {

    /** Pauses above this share of the interval lengthen it. */
    static final double PAUSE_HIGH = 0.3;
    /** Output may shorten the interval while the pauses stay below this share of the shorter one. */
    static final double PAUSE_LOW = 0.1;
    /** Calm epochs in a row before the interval shrinks. */
    static final int CALM_EPOCHS = 8;
    /** Epochs of back-pressure, or of long pauses, in a row before the interval grows. */
    static final int PRESSURE_EPOCHS = 3;
    /** Stepping back down stops where the pauses would take more than this part of {@link #PAUSE_HIGH}. */
    static final double RETURN_MARGIN = 0.9;
    /** Back-pressure above this share of the interval lengthens it. */
    static final double WAIT_SHARE = 0.1;

    /** Why the interval is what it is. */
    enum Reason {
        /** Fixed mode: the set interval. */
        FIXED("fixed"),
        /** Adaptive, at the set interval: nothing asks for another. */
        SET("at the set interval"),
        /** Lengthened: the backup or the link did not acknowledge fast enough (back-pressure). */
        BACKLOG("lengthened: the backup or the link is behind"),
        /** Lengthened: the pauses take too large a share of the epoch. */
        PAUSES("lengthened: pauses dominate"),
        /** Shortened: output waits for the checkpoints. */
        OUTPUT("shortened: output waits"),
        /** On its way back to the set interval. */
        RETURNING("returning to the set interval");

        private final String text;

        Reason(String text) {
            this.text = text;
        }

        String text() {
            return text;
        }
    }

    private final boolean adaptive;
    private final int minMs;
    private final int maxMs;
    private int targetMs;
    private int currentMs;
    private Reason reason;
    /** What the reason says in numbers, e.g. the wait or the pause share behind it. */
    private String why = "";
    /** Smoothed pause, ns; negative before the first. */
    private double pauseNanos = -1;
    private int calm;
    /** Epochs in a row with back-pressure, and with long pauses. */
    private int backlogged;
    private int longPauses;

    /**
     * @param targetMs the interval the operator set
     * @param policy   mode and bounds; the bounds are widened to include {@code targetMs}
     */
    AdaptiveInterval(int targetMs, EngineSettings.IntervalPolicy policy) {
        this.adaptive = policy.adaptive();
        this.minMs = policy.minMs();
        this.maxMs = policy.maxMs();
        target(targetMs);
    }

    /** The operator set another interval: it is the target, and the current interval starts from it. */
    void target(int ms) {
        targetMs = ms;
        currentMs = ms;
        calm = 0;
        backlogged = 0;
        longPauses = 0;
        reason = adaptive ? Reason.SET : Reason.FIXED;
        why = "";
    }

    int targetMs() {
        return targetMs;
    }

    /** The interval of the next epoch. */
    int currentMs() {
        return currentMs;
    }

    Reason reason() {
        return reason;
    }

    /** The reason with its figures, for the status. */
    String describe() {
        return why.isEmpty() ? reason.text() : reason.text() + " (" + why + ")";
    }

    private int lowest() {
        return Math.min(minMs, targetMs);
    }

    private int highest() {
        return Math.max(maxMs, targetMs);
    }

    /**
     * One checkpoint was taken: picks the next interval.
     *
     * @param waitedNanos how long the loop waited for room in the ACK window (or a staging buffer) before it
     * @param pauseNanos  its pause
     * @param heldPackets packets the guest sent during its epoch, held until its ACK (0 where not known)
     * @return the next interval, ms
     */
    int checkpointTaken(long waitedNanos, long pauseNanos, long heldPackets) {
        if (!adaptive) {
            return currentMs;
        }
        this.pauseNanos = this.pauseNanos < 0 ? pauseNanos : this.pauseNanos + (pauseNanos - this.pauseNanos) / 4;
        double intervalNanos = currentMs * 1e6;
        boolean waited = waitedNanos > WAIT_SHARE * intervalNanos;
        boolean longPause = pauseNanos > PAUSE_HIGH * intervalNanos;
        backlogged = waited ? backlogged + 1 : 0;
        longPauses = longPause ? longPauses + 1 : 0;
        if (waited || longPause) {
            calm = 0;
        }
        if (backlogged >= PRESSURE_EPOCHS) {
            backlogged = 0;
            grow(Reason.BACKLOG, String.format(Locale.ROOT, "waited %.1f ms for ACKs", waitedNanos / 1e6));
            return currentMs;
        }
        if (longPauses >= PRESSURE_EPOCHS) {
            longPauses = 0;
            grow(Reason.PAUSES, String.format(Locale.ROOT, "pause %.1f ms of %d ms", pauseNanos / 1e6, currentMs));
            return currentMs;
        }
        if (waited || longPause) {
            return currentMs;
        }
        calm++;
        if (calm < CALM_EPOCHS) {
            return currentMs;
        }
        int shorter = Math.max(lowest(), Math.min(currentMs - 1, (int) Math.floor(currentMs * 0.8)));
        if (currentMs > targetMs) {
            // back down, but not into pauses that would lengthen it again at once
            int down = Math.max(targetMs, shorter);
            if (this.pauseNanos < RETURN_MARGIN * PAUSE_HIGH * down * 1e6) {
                currentMs = down;
                settle();
            }
        } else if (heldPackets > 0 && shorter < currentMs && this.pauseNanos < PAUSE_LOW * shorter * 1e6) {
            currentMs = shorter;
            reason = Reason.OUTPUT;
            why = heldPackets + " packets held in the last epoch";
        } else if (currentMs < targetMs && heldPackets == 0) {
            currentMs = Math.min(targetMs, Math.max(currentMs + 1, (int) Math.ceil(currentMs * 1.25)));
            settle();
        }
        return currentMs;
    }

    /** A quarter longer, up to the bound; at the bound it stays there for the same reason. */
    private void grow(Reason r, String figures) {
        currentMs = Math.min(highest(), Math.max(currentMs + 1, (int) Math.ceil(currentMs * 1.25)));
        reason = r;
        why = figures;
    }

    private void settle() {
        reason = currentMs == targetMs ? Reason.SET : Reason.RETURNING;
        why = "";
    }
}
