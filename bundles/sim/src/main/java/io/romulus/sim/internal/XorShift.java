package io.romulus.sim.internal;

/** xorshift64*: a tiny pseudo-random generator whose whole state is one long, so it travels in device state. */
final class XorShift {

    private long state;

    XorShift(long seed) {
        this.state = seed == 0 ? 0x9E3779B97F4A7C15L : seed;
    }

    long state() {
        return state;
    }

    long next() {
        long x = state;
        x ^= x >>> 12;
        x ^= x << 25;
        x ^= x >>> 27;
        state = x;
        return x * 0x2545F4914F6CDD1DL;
    }

    /** Uniform in [0, bound). */
    long nextLong(long bound) {
        return Math.floorMod(next() >>> 1, bound);
    }

    /** Uniform in [0, 1). */
    double nextDouble() {
        return (next() >>> 11) * 0x1.0p-53;
    }
}
