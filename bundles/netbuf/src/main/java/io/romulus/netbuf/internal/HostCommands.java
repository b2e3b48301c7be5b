package io.romulus.netbuf.internal;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.support.process.CommandException;
import io.romulus.support.process.CommandResult;
import io.romulus.support.process.Executables;
import io.romulus.support.process.ProcessRunner;

/**
 * The host tools output commit forks at attach, close and in capability probes (never per epoch or packet):
 * {@code ip}, {@code tc}, {@code iptables}, {@code ip6tables}, {@code sysctl}, {@code modprobe}, found on PATH or in
 * the sbin directories a service's PATH often lacks, and run inside a network namespace with {@code ip netns exec}
 * or, for iproute2's own tools, {@code -n NETNS}; found and run through {@link Executables} and {@link ProcessRunner}.
 */
public final class HostCommands {

    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private HostCommands() {
    }

    /** The executable {@code name}, or null when it is not installed. */
    public static Path find(String name) {
        return Executables.find(name).orElse(null);
    }

    /** The executable {@code name}, or an error that says it is missing and why it is needed. */
    public static Path require(String name, String neededFor) throws OutputBufferException {
        Path p = find(name);
        if (p == null) {
            throw new OutputBufferException(name + " is not installed; output commit needs it to "
                    + neededFor + " (scripts/prerequisites.sh installs it)");
        }
        return p;
    }

    /** {@code argv}, prefixed with {@code ip netns exec NETNS} when {@code netns} is set. */
    public static List<String> inNetns(Path ip, String netns, Object... argv) {
        List<String> cmd = new ArrayList<>();
        if (netns != null && !netns.isEmpty()) {
            cmd.add(ip.toString());
            cmd.add("netns");
            cmd.add("exec");
            cmd.add(netns);
        }
        for (Object a : argv) {
            cmd.add(a.toString());
        }
        return cmd;
    }

    /** {@code tool [-n NETNS] args...}. */
    public static List<String> argv(Path tool, String netns, Object... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(tool.toString());
        if (netns != null && !netns.isEmpty()) {
            cmd.add("-n");
            cmd.add(netns);
        }
        for (Object a : args) {
            cmd.add(a.toString());
        }
        return cmd;
    }

    /** Runs a command to its end (or a timeout, which is an error: the command is killed). */
    public static CommandResult run(List<String> argv) throws OutputBufferException {
        try {
            return ProcessRunner.run(argv, TIMEOUT);
        } catch (CommandException e) {
            throw new OutputBufferException(e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OutputBufferException("interrupted while running " + String.join(" ", argv), e);
        }
    }

    /**
     * Runs {@code commands} at once, each on a thread of its own (commands that do not depend on each other: their
     * forks then cost the time of the slowest, not of all), and returns their results in order once all ended; when
     * one could not be run (or timed out), throws that error once all ended.
     */
    public static List<CommandResult> runAll(List<List<String>> commands) throws OutputBufferException {
        List<CompletableFuture<CommandResult>> running = new ArrayList<>();
        for (List<String> argv : commands.subList(0, Math.max(0, commands.size() - 1))) {
            CompletableFuture<CommandResult> f = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                try {
                    f.complete(run(argv));
                } catch (OutputBufferException | RuntimeException e) {
                    f.completeExceptionally(e);
                }
            }, "romulus-netbuf-command");
            t.setDaemon(true);
            t.start();
            running.add(f);
        }
        OutputBufferException failed = null;
        List<CommandResult> results = new ArrayList<>();
        CommandResult last = null;
        if (!commands.isEmpty()) {
            try {
                last = run(commands.get(commands.size() - 1)); // on this thread
            } catch (OutputBufferException e) {
                failed = e;
            }
        }
        for (CompletableFuture<CommandResult> f : running) {
            try {
                results.add(f.get());
            } catch (ExecutionException | CompletionException e) {
                if (failed == null) {
                    failed = e.getCause() instanceof OutputBufferException o ? o
                            : new OutputBufferException(String.valueOf(e.getCause()), e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new OutputBufferException("interrupted while running host commands", e);
            }
        }
        if (failed != null) {
            throw failed;
        }
        if (last != null) {
            results.add(last);
        }
        return results;
    }

    /** Runs a command that must succeed. */
    public static CommandResult check(List<String> argv, String what) throws OutputBufferException {
        CommandResult r = run(argv);
        if (!r.ok()) {
            throw new OutputBufferException("cannot " + what + ": " + r.describe());
        }
        return r;
    }
}
