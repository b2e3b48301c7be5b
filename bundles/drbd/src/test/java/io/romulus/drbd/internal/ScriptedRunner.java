package io.romulus.drbd.internal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * A {@link CommandRunner} that answers from a script: command lines (joined with spaces, the tool's path reduced to
 * its name) to results. Records every command line it was asked to run; an unscripted command fails the way a
 * missing executable would.
 */
final class ScriptedRunner implements CommandRunner {

    private final Map<String, Result> answers = new HashMap<>();
    private final Map<String, List<String>> streams = new HashMap<>();
    final List<String> calls = new ArrayList<>();
    /** Where the commands of several hosts are recorded in the order they ran, or null. */
    private List<String> journal;
    private String host;

    /** Also records each command line, prefixed with {@code hostName}, in {@code shared}. */
    ScriptedRunner journal(List<String> shared, String hostName) {
        this.journal = shared;
        this.host = hostName;
        return this;
    }

    /** {@code command} prints {@code out} and exits 0. */
    ScriptedRunner ok(String command, String out) {
        answers.put(command, new Result(List.of(command.split(" ")), 0, out, ""));
        return this;
    }

    /** {@code command} prints {@code err} on stderr and exits {@code exit}. */
    ScriptedRunner fails(String command, int exit, String err) {
        answers.put(command, new Result(List.of(command.split(" ")), exit, "", err));
        return this;
    }

    /** {@code command}, streamed, prints {@code lines} and ends. */
    ScriptedRunner streams(String command, List<String> lines) {
        streams.put(command, lines);
        return this;
    }

    private static String key(List<String> argv) {
        List<String> k = new ArrayList<>(argv);
        String tool = k.get(0);
        k.set(0, tool.substring(tool.lastIndexOf('/') + 1));
        return String.join(" ", k);
    }

    @Override
    public synchronized Result run(List<String> argv, Duration timeout) throws DrbdCommandException {
        String k = key(argv);
        calls.add(k);
        if (journal != null) {
            journal.add(host + ": " + k);
        }
        Result r = answers.get(k);
        if (r == null) {
            throw new DrbdCommandException("cannot run " + k + ": not scripted", argv, -1, "", null);
        }
        return new Result(argv, r.exit(), r.out(), r.err());
    }

    @Override
    public synchronized Running stream(List<String> argv, Consumer<String> lines) throws DrbdCommandException {
        String k = key(argv);
        calls.add(k);
        List<String> script = streams.get(k);
        if (script == null) {
            throw new DrbdCommandException("cannot run " + k + ": not scripted", argv, -1, "", null);
        }
        script.forEach(lines);
        CompletableFuture<Result> exit = new CompletableFuture<>();
        return new Running() {
            @Override
            public CompletableFuture<Result> exit() {
                return exit;
            }

            @Override
            public void close() {
                exit.complete(new Result(argv, 143, "", ""));
            }
        };
    }

    synchronized List<String> calls() {
        return List.copyOf(calls);
    }
}
