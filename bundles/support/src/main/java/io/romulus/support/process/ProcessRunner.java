package io.romulus.support.process;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs host commands to their end with a real timeout: stdout and stderr are read by threads of their own, so neither
 * a command that hangs silently nor one that prints a lot can keep the timeout from firing; a command still running
 * then is killed, with every process it started. Its stdin is {@code /dev/null} unless the caller's
 * {@link ProcessBuilder} says otherwise.
 */
public final class ProcessRunner {

    /** How much of a stream is kept; the rest is read and dropped, so the command never blocks on a full pipe. */
    static final int KEPT_BYTES = 8 << 20;
    /** How long the output of a command that ended may still be read (a child it left may hold the pipe open). */
    private static final long DRAIN_MILLIS = 5_000;
    private static final long KILL_WAIT_MILLIS = 5_000;

    private ProcessRunner() {
    }

    /** Runs {@code argv} to its end, at most {@code timeout}; stdout and stderr apart. */
    public static CommandResult run(List<String> argv, Duration timeout) throws CommandException, InterruptedException {
        return run(new ProcessBuilder(argv), timeout);
    }

    /**
     * Runs what {@code pb} describes (its environment, directory, {@code redirectErrorStream}) to its end, at most
     * {@code timeout}.
     *
     * @throws CommandException     if it cannot be started, or ran past {@code timeout} and was killed
     * @throws InterruptedException if this thread was interrupted meanwhile; the command is killed
     */
    public static CommandResult run(ProcessBuilder pb, Duration timeout) throws CommandException, InterruptedException {
        List<String> argv = List.copyOf(pb.command());
        Process p = start(pb);
        Drain out = Drain.of(p.getInputStream(), "romulus-command-stdout");
        Drain err = Drain.of(p.getErrorStream(), "romulus-command-stderr");
        boolean ended = false;
        try {
            ended = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } finally {
            if (!ended) {
                kill(p);
            }
        }
        if (!ended) {
            String said = err.text().strip();
            throw new CommandException(CommandException.Reason.TIMED_OUT, argv, err.text(),
                    String.join(" ", argv) + " did not finish within " + millis(timeout) + " and was killed"
                            + (said.isEmpty() ? "" : ": " + said), null);
        }
        out.await(DRAIN_MILLIS);
        err.await(DRAIN_MILLIS);
        return new CommandResult(argv, p.exitValue(), out.text(), err.text());
    }

    /**
     * Starts what {@code pb} describes, stdin from {@code /dev/null} unless {@code pb} redirects it; for commands that
     * run on (streams) and are read by the caller.
     */
    public static Process start(ProcessBuilder pb) throws CommandException {
        if (pb.redirectInput().type() == ProcessBuilder.Redirect.Type.PIPE) {
            pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        }
        try {
            return pb.start();
        } catch (IOException e) {
            throw new CommandException(CommandException.Reason.NOT_STARTED, pb.command(), "",
                    "cannot run " + String.join(" ", pb.command()) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads {@code in} (a command's stdout or stderr) to its end on a thread of its own, keeping the first
     * {@link #KEPT_BYTES}; for commands started with {@link #start}.
     */
    public static CompletableFuture<String> collect(InputStream in, String threadName) {
        Drain d = Drain.of(in, threadName);
        return d.done.thenApply(ignored -> d.text());
    }

    /** Kills {@code p} and every process it started (they would hold its pipes open), and waits a little for it. */
    public static void kill(Process p) {
        List<ProcessHandle> children = p.descendants().toList();
        p.destroyForcibly();
        children.forEach(ProcessHandle::destroyForcibly);
        try {
            // SIGKILL cannot be refused: if it is not gone within the wait, the kernel reaps it shortly after
            p.waitFor(KILL_WAIT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String millis(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    /** Reads one stream to its end on a thread of its own, keeping the first {@link #KEPT_BYTES}. */
    private static final class Drain implements Runnable {

        private final InputStream in;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        private final CompletableFuture<Void> done = new CompletableFuture<>();
        private boolean truncated;

        private Drain(InputStream in) {
            this.in = in;
        }

        static Drain of(InputStream in, String threadName) {
            Drain d = new Drain(in);
            Thread t = new Thread(d, threadName);
            t.setDaemon(true);
            t.start();
            return d;
        }

        @Override
        public void run() {
            byte[] buf = new byte[8192];
            try (in) {
                for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
                    keep(buf, n);
                }
            } catch (IOException e) {
                // the process was killed, or its pipe closed: what was read is what there is
            } finally {
                done.complete(null);
            }
        }

        private synchronized void keep(byte[] buf, int n) {
            int room = KEPT_BYTES - kept.size();
            kept.write(buf, 0, Math.min(room, n));
            truncated |= n > room;
        }

        /** Waits for the end of the stream; if a child of the command holds it open, what came so far is the output. */
        void await(long millis) throws InterruptedException {
            try {
                done.get(millis, TimeUnit.MILLISECONDS);
            } catch (ExecutionException | TimeoutException e) {
                // not ended (the reader never fails the future): the output is what came so far
            }
        }

        synchronized String text() {
            String s = kept.toString(StandardCharsets.UTF_8);
            return truncated ? s + "\n[output beyond " + (KEPT_BYTES >> 20) + " MiB dropped]" : s;
        }
    }
}
