package io.romulus.drbd.internal;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Forks the DRBD tools with {@link ProcessBuilder}; stdin is {@code /dev/null}, LANG is C so messages are stable. */
public final class ProcessCommandRunner implements CommandRunner {

    private static final Logger LOG = LoggerFactory.getLogger(ProcessCommandRunner.class);

    private static Process start(List<String> argv) throws DrbdCommandException {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("LANG", "C");
        pb.environment().put("LC_ALL", "C");
        try {
            return pb.start();
        } catch (IOException e) {
            throw new DrbdCommandException("cannot run " + String.join(" ", argv) + ": " + e.getMessage(), argv, -1,
                    "", e);
        }
    }

    @Override
    public Result run(List<String> argv, Duration timeout) throws DrbdCommandException {
        LOG.debug("running {}", argv);
        Process p = start(argv);
        CompletableFuture<String> out = drain(p.getInputStream(), "out");
        CompletableFuture<String> err = drain(p.getErrorStream(), "err");
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                String e = err.getNow("");
                throw new DrbdCommandException(String.join(" ", argv) + " did not finish within " + timeout.toSeconds()
                        + " s" + (e.isBlank() ? "" : ": " + e.strip()), argv, -1, e, null);
            }
            return new Result(argv, p.exitValue(), out.join(), err.join());
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new DrbdCommandException("interrupted while running " + String.join(" ", argv), argv, -1, "", e);
        }
    }

    @Override
    public Running stream(List<String> argv, Consumer<String> lines) throws DrbdCommandException {
        LOG.debug("starting {}", argv);
        Process p = start(argv);
        CompletableFuture<String> err = drain(p.getErrorStream(), "err");
        CompletableFuture<Result> exit = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    try {
                        lines.accept(line);
                    } catch (RuntimeException e) {
                        LOG.warn("a consumer of {} failed on \"{}\": {}", argv.get(0), line, e.toString());
                    }
                }
            } catch (IOException e) {
                LOG.debug("{} output ended: {}", argv.get(0), e.getMessage());
            }
            try {
                int code = p.waitFor();
                exit.complete(new Result(argv, code, "", err.join()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                exit.completeExceptionally(e);
            }
        }, "romulus-drbd-" + String.join("-", argv.subList(1, Math.min(argv.size(), 2))));
        reader.setDaemon(true);
        reader.start();
        return new Running() {
            @Override
            public CompletableFuture<Result> exit() {
                return exit;
            }

            @Override
            public void close() {
                p.destroy();
                try {
                    if (!p.waitFor(2, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                    }
                } catch (InterruptedException e) {
                    p.destroyForcibly();
                    Thread.currentThread().interrupt();
                }
            }
        };
    }

    private static CompletableFuture<String> drain(InputStream in, String which) {
        CompletableFuture<String> result = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (in) {
                result.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                result.complete("");
            }
        }, "romulus-drbd-std" + which);
        t.setDaemon(true);
        t.start();
        return result;
    }
}
