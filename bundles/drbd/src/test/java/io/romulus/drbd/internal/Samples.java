package io.romulus.drbd.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Loads the captured tool output in src/test/resources (each file's origin is cited where a test uses it). */
final class Samples {

    private Samples() {
    }

    static String text(String name) {
        try (InputStream in = Samples.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The lines of a sample. */
    static List<String> lines(String name) {
        return List.of(text(name).split("\n"));
    }

    /**
     * The lines of a sample from the DRBD user's guide, which breaks long events2 lines "for readability": a line
     * that starts with whitespace continues the one before. drbdsetup itself prints one event per line.
     */
    static List<String> unwrapped(String name) {
        List<String> out = new ArrayList<>();
        for (String line : lines(name)) {
            if (!line.isEmpty() && Character.isWhitespace(line.charAt(0)) && !out.isEmpty()) {
                out.set(out.size() - 1, out.get(out.size() - 1) + " " + line.strip());
            } else {
                out.add(line);
            }
        }
        return out;
    }

    /** Parses every line (none may be malformed) and folds them into a new state. */
    static DrbdState fold(List<String> lines) {
        DrbdState s = new DrbdState();
        for (String line : lines) {
            Events2Parser.accept(line, s::apply, m -> {
                throw new AssertionError(m.getMessage());
            });
        }
        return s;
    }
}
