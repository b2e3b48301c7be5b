package io.romulus.drbd.internal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.romulus.support.process.CommandException;
import io.romulus.support.process.CommandResult;
import io.romulus.support.process.ProcessRunner;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forks the DRBD tools through {@link ProcessRunner} (a real timeout; stdin is {@code /dev/null}); LANG is C so
 * messages are stable.
 */
public final class ProcessCommandRunner implements CommandRunner {

    private static final Logger LOG = LoggerFactory.getLogger(ProcessCommandRunner.class);

    private static ProcessBuilder builder(List<String> argv) {
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().put("LANG", "C");
        pb.environment().put("LC_ALL", "C");
        return pb;
    }

    private static Process start(List<String> argv) throws DrbdCommandException {
        try {
            return ProcessRunner.start(builder(argv));
        } catch (CommandException e) {
            throw new DrbdCommandException(e.getMessage(), argv, -1, "", e);
        }
    }

    @Override
    public Result run(List<String> argv, Duration timeout) throws DrbdCommandException {
        LOG.debug("running {}", argv);
        try {
            CommandResult r = ProcessRunner.run(builder(argv), timeout);
            return new Result(argv, r.exit(), r.out(), r.err());
        } catch (CommandException e) {
            throw new DrbdCommandException(e.getMessage(), argv, -1, e.err(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DrbdCommandException("interrupted while running " + String.join(" ", argv), argv, -1, "", e);
        }
    }

    @Override
    public Running stream(List<String> argv, Consumer<String> lines) throws DrbdCommandException {
        LOG.debug("starting {}", argv);
        Process p = start(argv);
        CompletableFuture<String> err = ProcessRunner.collect(p.getErrorStream(), "romulus-drbd-stderr");
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
}
