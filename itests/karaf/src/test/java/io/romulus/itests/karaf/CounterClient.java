package io.romulus.itests.karaf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * scripts/counter-client.py in the client's namespace: one TCP connection to the demo guest's counter service for the
 * whole test, one "inc" every interval. Its lines are read back from its log: "value N SENT_NS RECEIVED_NS" (the
 * monotonic clock of {@link System#nanoTime()}), "error WHAT".
 */
final class CounterClient {

    /** One answer of the guest's counter. */
    record Reply(long value, long sentNanos, long receivedNanos) {
        long roundTripNanos() {
            return receivedNanos - sentNanos;
        }
    }

    private final Path log;
    private Process process;

    CounterClient(Path log) {
        this.log = log;
    }

    void start(Path script, String netns, String host, int port, double intervalSeconds) throws IOException {
        process = new ProcessBuilder("ip", "netns", "exec", netns, "python3", "-u", script.toString(), host,
                Integer.toString(port), Double.toString(intervalSeconds)).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    void stop() {
        if (process != null) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }
    }

    List<Reply> replies() throws IOException {
        List<Reply> out = new ArrayList<>();
        for (String line : lines()) {
            String[] f = line.split(" ");
            if (f.length == 4 && f[0].equals("value")) {
                out.add(new Reply(Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3])));
            }
        }
        return out;
    }

    /** The client's "error ..." lines, and lines it should never print. */
    List<String> errors() throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : lines()) {
            if (!line.equals("connected") && !line.startsWith("value ")) {
                out.add(line);
            }
        }
        return out;
    }

    /** Where the counter did not go up by exactly one: "N -> M at T ns". */
    static List<String> breaks(List<Reply> replies) {
        List<String> out = new ArrayList<>();
        for (int i = 1; i < replies.size(); i++) {
            Reply a = replies.get(i - 1);
            Reply b = replies.get(i);
            if (b.value() != a.value() + 1) {
                out.add(a.value() + " -> " + b.value() + " (answer received at " + b.receivedNanos() + " ns)");
            }
        }
        return out;
    }

    private List<String> lines() throws IOException {
        if (!Files.exists(log)) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
            // the last line may still be being written
            if (!line.isBlank() && (!line.startsWith("value ") || line.split(" ").length == 4)) {
                out.add(line.trim());
            }
        }
        return out;
    }
}
