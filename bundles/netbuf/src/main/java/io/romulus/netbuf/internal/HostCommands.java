package io.romulus.netbuf.internal;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

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

    /** Runs a command that must succeed. */
    public static CommandResult check(List<String> argv, String what) throws OutputBufferException {
        CommandResult r = run(argv);
        if (!r.ok()) {
            throw new OutputBufferException("cannot " + what + ": " + r.describe());
        }
        return r;
    }
}
