package io.romulus.engine.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The one-machine hosts of scripts/netlab for a test: network namespaces {@code PREFIX-a} (primary host),
 * {@code PREFIX-b} (backup host), {@code PREFIX-c} (client, 10.77.0.100) and {@code PREFIX-sw} (switch). They have no
 * route out of the machine; {@link #close()} removes them.
 */
@SuppressWarnings("try") // close() may be interrupted; these are test fixtures
final class NetLab implements AutoCloseable {

    static final String GUEST_IP = "10.77.0.10";
    final String prefix;
    private final Path script;

    private NetLab(String prefix, Path script) {
        this.prefix = prefix;
        this.script = script;
    }

    static NetLab up() throws IOException, InterruptedException {
        Path script = Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve("netlab");
        if (!Files.isExecutable(script)) {
            throw new AssertionError(script.toAbsolutePath() + " is missing");
        }
        NetLab lab = new NetLab("rl" + Long.toString(ProcessHandle.current().pid() % 100_000, 36), script);
        lab.run(List.of(script.toString(), "up", lab.prefix));
        return lab;
    }

    String primaryHost() {
        return prefix + "-a";
    }

    String backupHost() {
        return prefix + "-b";
    }

    String client() {
        return prefix + "-c";
    }

    /** Starts {@code command} inside the client's namespace. */
    Process inClient(List<String> command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", client()));
        cmd.addAll(command);
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed: " + out);
        }
        return out;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        run(List.of(script.toString(), "down", prefix));
    }
}
