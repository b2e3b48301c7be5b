package io.romulus.drbd.internal;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * Runs the DRBD tools. {@link ProcessCommandRunner} forks them; tests substitute a scripted runner that records
 * the command lines and answers with captured output.
 */
public interface CommandRunner {

    /** How a command ended and what it printed. */
    record Result(List<String> argv, int exit, String out, String err) {
        public Result {
            argv = List.copyOf(argv);
        }

        public boolean ok() {
            return exit == 0;
        }
    }

    /** A command that runs until it is closed (or ends by itself). */
    interface Running extends AutoCloseable {
        /** Completes with the command's result when it ends (its {@code out} is empty: lines went to the sink). */
        CompletableFuture<Result> exit();

        /** Stops the command. */
        @Override
        void close();
    }

    /** Runs {@code argv} to its end; a command still running after {@code timeout} is killed and reported. */
    Result run(List<String> argv, Duration timeout) throws DrbdCommandException;

    /** Starts {@code argv} and passes each line it prints on stdout to {@code lines}, from a thread of its own. */
    Running stream(List<String> argv, Consumer<String> lines) throws DrbdCommandException;
}
