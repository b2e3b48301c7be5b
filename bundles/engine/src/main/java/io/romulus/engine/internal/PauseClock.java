package io.romulus.engine.internal;

import java.util.Arrays;

import io.romulus.api.engine.PauseBreakdown;

/**
 * Times the parts of one checkpoint's pause ({@link PauseBreakdown}) at their boundaries with {@link System#nanoTime}.
 * The epoch loop reuses one clock epoch after epoch, so timing a pause allocates nothing.
 */
final class PauseClock {

    static final int STOP = 0;
    static final int HARVEST = 1;
    static final int COPY = 2;
    static final int DEVICE_STATE = 3;
    static final int DISK_BARRIER = 4;
    static final int CONT = 5;
    static final int HAND_OFF = 6;
    static final int PARTS = 7;

    private final long[] parts = new long[PARTS];
    private long mark;

    /** The pause starts now. */
    void start(long now) {
        Arrays.fill(parts, 0);
        mark = now;
    }

    /**
     * Part {@code part} ends now: it took the time since the last boundary, less {@code handOff} nanoseconds of it
     * spent handing answers between threads, which count as {@link #HAND_OFF}.
     */
    void lap(int part, long handOff) {
        long now = System.nanoTime();
        long h = Math.max(0, Math.min(handOff, now - mark));
        parts[part] += now - mark - h;
        parts[HAND_OFF] += h;
        mark = now;
    }

    /** Bookkeeping between parts ends now: it counts in no part. */
    void skip() {
        mark = System.nanoTime();
    }

    long part(int part) {
        return parts[part];
    }

    /** The parts, in {@link PauseBreakdown}'s order; read them before the next {@link #start}. */
    long[] parts() {
        return parts;
    }

    static PauseBreakdown breakdown(long[] p, int from) {
        return new PauseBreakdown(p[from + STOP], p[from + HARVEST], p[from + COPY], p[from + DEVICE_STATE],
                p[from + DISK_BARRIER], p[from + CONT], p[from + HAND_OFF]);
    }
}
