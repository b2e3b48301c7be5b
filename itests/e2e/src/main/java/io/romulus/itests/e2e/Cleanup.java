package io.romulus.itests.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.stream.Stream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a benchmark has set up on the machine (guests, namespaces, files), undone in reverse order exactly once: by
 * {@link #close()} at the end of its {@code try}, or by a shutdown hook when the JVM is stopped (Ctrl-C, SIGTERM)
 * before that. A step that fails is logged as a WARN (on stderr, with slf4j-simple) and the others still run.
 */
final class Cleanup implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Cleanup.class);

    /** One step of undoing. */
    @FunctionalInterface
    interface Step {
        void run() throws Exception;
    }

    private record Named(String what, Step step) {
    }

    /** Guarded by {@code this}. */
    private final Deque<Named> steps = new ArrayDeque<>();
    private final Object runner = new Object();
    private final Thread hook = new Thread(this::runAll, "benchmark-cleanup");

    Cleanup() {
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** Adds a step; steps run last added first. */
    synchronized void add(String what, Step step) {
        steps.push(new Named(what, step));
    }

    /** Adds the removal of {@code path} and everything under it. */
    void deleteTree(Path path) {
        add("delete " + path, () -> deleteRecursively(path));
    }

    static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(path)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Override
    public void close() {
        runAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is already shutting down: the hook ran, or runs, the same steps
        }
    }

    /** One runner at a time, so that the hook and {@link #close()} never undo two things at once. */
    private void runAll() {
        synchronized (runner) {
            runSteps();
        }
    }

    private void runSteps() {
        while (true) {
            Named n;
            synchronized (this) {
                n = steps.poll();
            }
            if (n == null) {
                return;
            }
            try {
                n.step().run();
            } catch (Exception e) {
                LOG.warn("Cleanup: {} failed: {}", n.what(), e.toString());
            }
        }
    }
}
