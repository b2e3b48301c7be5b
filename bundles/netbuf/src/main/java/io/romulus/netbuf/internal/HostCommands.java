package io.romulus.netbuf.internal;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.romulus.api.netbuf.OutputBufferException;

/**
 * The host tools output commit forks at attach, close and in capability probes (never per epoch or packet):
 * {@code ip}, {@code tc}, {@code iptables}, {@code ip6tables}, {@code sysctl}, {@code modprobe}, found on PATH or in
 * the sbin directories a service's PATH often lacks, and run inside a network namespace with {@code ip netns exec}
 * or, for iproute2's own tools, {@code -n NETNS}.
 */
public final class HostCommands {

    /** What a command printed and how it ended. */
    public record Result(List<String> argv, int exit, String out, String err) {
        public boolean ok() {
            return exit == 0;
        }

        public String describe() {
            String why = err.isBlank() ? out.strip() : err.strip();
            return String.join(" ", argv) + " exited with " + exit + (why.isEmpty() ? "" : ": " + why);
        }
    }

    private static final long TIMEOUT_SECONDS = 20;

    private HostCommands() {
    }

    /** The executable {@code name}, or null when it is not installed. */
    public static Path find(String name) {
        Set<String> dirs = new LinkedHashSet<>();
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(File.pathSeparator)) {
                if (!d.isEmpty()) {
                    dirs.add(d);
                }
            }
        }
        dirs.addAll(List.of("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"));
        for (String d : dirs) {
            Path p = Path.of(d, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
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

    /** Runs a command to its end (or a timeout, which is an error). */
    public static Result run(List<String> argv) throws OutputBufferException {
        Process p;
        try {
            p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        } catch (IOException e) {
            throw new OutputBufferException("cannot run " + String.join(" ", argv) + ": " + e.getMessage(), e);
        }
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        try {
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new OutputBufferException(String.join(" ", argv) + " did not finish within " + TIMEOUT_SECONDS
                        + " s");
            }
            return new Result(List.copyOf(argv), p.exitValue(), out.join(), err.join());
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new OutputBufferException("interrupted while running " + String.join(" ", argv), e);
        }
    }

    /** Runs a command that must succeed. */
    public static Result check(List<String> argv, String what) throws OutputBufferException {
        Result r = run(argv);
        if (!r.ok()) {
            throw new OutputBufferException("cannot " + what + ": " + r.describe());
        }
        return r;
    }

    private static CompletableFuture<String> drain(InputStream in) {
        CompletableFuture<String> result = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (in) {
                result.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                result.complete("");
            }
        }, "romulus-netbuf-command-output");
        t.setDaemon(true);
        t.start();
        return result;
    }
}
