package io.romulus.itests.e2e;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Issue 19's targets as a benchmark met them or not, collected while it runs and printed plainly at its end: each line
 * names the target, the figure measured in this run and what it was measured against, and says "met" or "NOT met".
 */
final class Targets {

    private final List<String> lines = new ArrayList<>();

    /** A target that holds when {@code ok}: {@code what} (the target), {@code measured} (the run's figure). */
    void check(String what, String measured, boolean ok) {
        lines.add(String.format(Locale.ROOT, "  %-62s %s: %s", what, measured, ok ? "met" : "NOT met"));
    }

    /** A figure printed beside the targets without being one (a bound, what a target is measured against). */
    void note(String text) {
        lines.add("    " + text);
    }

    void print() {
        System.out.println();
        System.out.println("Targets (issue 19), this run:");
        lines.forEach(System.out::println);
    }
}
