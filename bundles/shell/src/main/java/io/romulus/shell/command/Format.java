package io.romulus.shell.command;

/** Durations for people. */
final class Format {

    private Format() {
    }

    /** {@code 812 µs} below 10 ms, {@code 12.3 ms} above. */
    static String micros(long nanos) {
        if (nanos < 10_000_000) {
            return nanos / 1000 + " µs";
        }
        return String.format("%.1f ms", nanos / 1e6);
    }
}
