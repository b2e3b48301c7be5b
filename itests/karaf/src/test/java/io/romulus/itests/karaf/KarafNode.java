package io.romulus.itests.karaf;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One Romulus node as an operator runs it: the reactor's assembly unpacked into a directory of its own, started with
 * {@code bin/start} and the {@code ROMULUS_*} variables of {@code bin/setenv}, driven through {@code bin/client} (the
 * Karaf shell over SSH) and read through Jolokia.
 */
final class KarafNode {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern BUNDLE_LINE = Pattern.compile("^\\s*(\\d+)\\s+(\\w+)\\s+\\d+\\s+(\\S+)\\s+(\\S+)\\s*$");

    final String name;
    final Path home;
    final Path runDir;
    final int sshPort;
    final int httpPort;
    final int streamPort;
    final int heartbeatPort;
    private final Map<String, String> env = new HashMap<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    private String password;

    KarafNode(String name, Path home, Path runDir, int portBase, String netns) {
        this.name = name;
        this.home = home;
        this.runDir = runDir;
        this.sshPort = portBase + 1;
        this.httpPort = portBase + 2;
        this.streamPort = portBase + 3;
        this.heartbeatPort = portBase + 4;
        env.put("ROMULUS_NODE_ID", "rhu-" + name);
        env.put("ROMULUS_SSH_PORT", Integer.toString(sshPort));
        env.put("ROMULUS_HTTP_PORT", Integer.toString(httpPort));
        env.put("ROMULUS_STREAM_PORT", Integer.toString(streamPort));
        env.put("ROMULUS_HEARTBEAT_PORT", Integer.toString(heartbeatPort));
        env.put("ROMULUS_RMI_REGISTRY_PORT", Integer.toString(portBase + 5));
        env.put("ROMULUS_RMI_SERVER_PORT", Integer.toString(portBase + 6));
        env.put("ROMULUS_QEMU_RUN_DIR", runDir.toString());
        env.put("ROMULUS_DISK_DIR", runDir + "-disks");
        env.put("ROMULUS_QEMU_NETNS", netns);
        env.put("ROMULUS_QEMU_BRIDGE", "br0");
        env.put("ROMULUS_DIRECT_MEMORY", "1g");
        env.put("JAVA_MAX_MEM", "512M");
    }

    /** Unpacks the assembly into {@link #home} (which must not exist) and writes the shared stream secret. */
    void unpack(Path assembly, String secret) throws IOException, InterruptedException {
        Files.createDirectories(home);
        run(List.of("tar", "xzf", assembly.toString(), "-C", home.toString(), "--strip-components=1"), 120);
        Path secretFile = home.resolve("etc/romulus-stream.secret");
        Files.writeString(secretFile, secret + "\n");
        run(List.of("chmod", "600", secretFile.toString()), 10);
    }

    /** Sets KEY = VALUE in etc/FILE, as {@code bin/setenv}'s romulus_set does (replacing the key's line or adding one). */
    void setConfig(String file, String key, String value) throws IOException {
        Path cfg = home.resolve("etc").resolve(file);
        List<String> out = new ArrayList<>();
        boolean done = false;
        for (String line : Files.readAllLines(cfg)) {
            if (line.matches("^\\s*" + Pattern.quote(key) + "\\s*=.*")) {
                out.add(key + " = " + value);
                done = true;
            } else {
                out.add(line);
            }
        }
        if (!done) {
            out.add(key + " = " + value);
        }
        Files.write(cfg, out);
    }

    void start() throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(home.resolve("bin/start").toString()).redirectErrorStream(true)
                .redirectOutput(home.resolve("start.out").toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("node " + name + ": bin/start failed, see " + home.resolve("start.out"));
        }
        password = Files.readString(home.resolve("etc/romulus-admin.password")).trim();
    }

    /** The password bin/setenv made for {@code admin} on the first start. */
    String adminPassword() {
        return password;
    }

    /** The node's Karaf JVM, found like scripts/demo finds it: by its karaf.home on the command line. */
    Optional<Long> pid() {
        try {
            String out = run(List.of("pgrep", "-f", "karaf.home=" + home + " "), 10);
            return out.lines().map(String::trim).filter(l -> l.matches("\\d+")).map(Long::parseLong).findFirst();
        } catch (IOException | InterruptedException | IllegalStateException e) {
            return Optional.empty();
        }
    }

    /** The pid of the guest {@code name}'s QEMU on this node, from its pid file; empty when there is none. */
    Optional<Long> qemuPid(String guest) {
        try {
            return Optional.of(Long.parseLong(Files.readString(runDir.resolve(guest).resolve("qemu.pid")).trim()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** kill -9 of the Karaf JVM (the host dies). */
    void killHard() {
        pid().ifPresent(p -> ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly));
    }

    /** Stops the Karaf JVM (bin/stop, then kill -9 whatever is left) and kills the node's guests by their pid files. */
    void stop() {
        try {
            if (pid().isPresent()) {
                ProcessBuilder pb = new ProcessBuilder(home.resolve("bin/stop").toString()).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD);
                pb.environment().putAll(env);
                Process p = pb.start();
                p.waitFor(30, TimeUnit.SECONDS);
                p.destroyForcibly();
                for (int i = 0; i < 20 && pid().isPresent(); i++) {
                    Thread.sleep(500);
                }
            }
        } catch (IOException e) {
            // killed below
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        killHard();
        try (var dirs = Files.list(runDir)) {
            dirs.forEach(d -> qemuPid(d.getFileName().toString())
                    .ifPresent(p -> ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly)));
        } catch (IOException e) {
            // no run directory: its guests are found below
        }
        // a guest whose pid file is gone: by its RAM file and sockets under the run directory
        try {
            for (String line : run(List.of("pgrep", "-f", "qemu-system.*" + runDir + "/"), 10).split("\n")) {
                if (line.trim().matches("\\d+")) {
                    ProcessHandle.of(Long.parseLong(line.trim())).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
        } catch (IOException | IllegalStateException e) {
            // pgrep missing: prerequisites name it
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs Karaf shell commands in one batch through bin/client and returns what they printed. */
    String shell(String... commands) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("timeout", "120", home.resolve("bin/client").toString(), "-a",
                Integer.toString(sshPort), "-u", "admin", "-p", password, "-b").redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        try (OutputStream in = p.getOutputStream()) {
            in.write((String.join("\n", commands) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(130, TimeUnit.SECONDS);
        return out.lines().filter(l -> !l.contains("JAVA_HOME not set")).map(KarafNode::plain)
                .reduce("", (a, b) -> a + b + "\n");
    }

    /** Without the terminal's colour escapes. */
    private static String plain(String line) {
        return line.replaceAll("\u001B\\[[;\\d]*m", "");
    }

    /** The node's bundles by symbolic name, from {@code bundle:list -s}: id, state, version. */
    Map<String, BundleRow> bundles() throws IOException, InterruptedException {
        return parseBundles(shell("bundle:list -s --no-format"));
    }

    /** Bundles by symbolic name from the output of {@code bundle:list -s --no-format}. */
    static Map<String, BundleRow> parseBundles(String output) {
        Map<String, BundleRow> rows = new HashMap<>();
        for (String line : output.split("\n")) {
            Matcher m = BUNDLE_LINE.matcher(line.replace('\t', ' '));
            if (m.matches()) {
                rows.put(m.group(4), new BundleRow(Long.parseLong(m.group(1)), m.group(2), m.group(3)));
            }
        }
        return rows;
    }

    record BundleRow(long id, String state, String version) {
    }

    /** One Jolokia request (read, exec, search) against the node's /hawtio/jolokia; the "value" of its answer. */
    JsonNode jolokia(ObjectNode request) throws IOException, InterruptedException {
        JsonNode answer = jolokiaBulk(JSON.createArrayNode().add(request)).get(0);
        if (answer.path("status").asInt() != 200) {
            throw new IOException("Jolokia on node " + name + ": " + answer.path("error").asText(answer.toString()));
        }
        return answer.path("value");
    }

    /** Several Jolokia requests in one POST; the answers in order. */
    JsonNode jolokiaBulk(ArrayNode requests) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/hawtio/jolokia/"))
                .timeout(Duration.ofSeconds(10))
                .header("Authorization", "Basic " + Base64.getEncoder()
                        .encodeToString(("admin:" + password).getBytes(StandardCharsets.UTF_8)))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(requests))).build();
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("Jolokia on node " + name + ": HTTP " + response.statusCode());
        }
        JsonNode body = JSON.readTree(response.body());
        if (!body.isArray()) {
            throw new IOException("Jolokia on node " + name + ": " + body);
        }
        return body;
    }

    static ObjectNode read(String mbean, String attribute) {
        ObjectNode r = JSON.createObjectNode().put("type", "read").put("mbean", mbean);
        return attribute == null ? r : r.put("attribute", attribute);
    }

    static ObjectNode exec(String mbean, String operation, Object... arguments) {
        ObjectNode r = JSON.createObjectNode().put("type", "exec").put("mbean", mbean).put("operation", operation);
        ArrayNode args = r.putArray("arguments");
        for (Object a : arguments) {
            args.addPOJO(a);
        }
        return r;
    }

    /** Whether the MBean is registered and readable now. */
    boolean mbeanPresent(String mbean) {
        try {
            jolokia(read(mbean, null));
            return true;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * The state of {@code domain} in {@code role} in a Jolokia rendering of the Engine's {@code Status} (a JSON object
     * {@code "domain ROLE": "STATE, epoch ..."}), or empty when it has no such row.
     */
    static Optional<String> state(JsonNode status, String domain, String role) {
        JsonNode line = status.path(domain + " " + role);
        return line.isTextual() ? Optional.of(line.asText().split(",", 2)[0]) : Optional.empty();
    }

    private static final Pattern BUFFER_LINE = Pattern.compile(
            ".*: (\\d+) packets \\((\\d+) bytes\\) queued, (\\d+) packets \\((\\d+) bytes\\) released, (\\d+) dropped, .*");

    /**
     * The counters of each held interface in a Jolokia rendering of the NetBuffer MBean's {@code Buffers} (a JSON
     * object {@code "domain interface": "nfqueue: 2 packets (180 bytes) queued, 10 packets (900 bytes) released,
     * 0 dropped, 1 epochs outstanding"}): packets and bytes queued, packets and bytes released, packets dropped.
     */
    static List<long[]> bufferCounters(JsonNode buffers) {
        List<long[]> out = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : buffers.properties()) {
            Matcher m = BUFFER_LINE.matcher(e.getValue().asText());
            if (!m.matches()) {
                throw new IllegalArgumentException("not a line of the NetBuffer MBean's Buffers: " + e);
            }
            out.add(new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3)),
                Long.parseLong(m.group(4)), Long.parseLong(m.group(5))});
        }
        return out;
    }

    /** Every object in a Jolokia rendering of TabularData (nested maps by index) that has the item {@code field}. */
    static List<JsonNode> rows(JsonNode tabular, String field) {
        List<JsonNode> out = new ArrayList<>();
        collect(tabular, field, out);
        return out;
    }

    private static void collect(JsonNode node, String field, List<JsonNode> out) {
        if (node == null || !node.isContainerNode()) {
            return;
        }
        if (node.isObject() && node.has(field) && !node.get(field).isContainerNode()) {
            out.add(node);
            return;
        }
        node.forEach(child -> collect(child, field, out));
    }

    /** Lines of data/log/karaf.log (and its rotated files) that contain {@code text}. */
    long countLog(String text) throws IOException {
        long n = 0;
        try (var files = Files.list(home.resolve("data/log"))) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.getFileName().toString().startsWith("karaf.log"))::iterator) {
                try (var lines = Files.lines(f, StandardCharsets.ISO_8859_1)) {
                    n += lines.filter(l -> l.contains(text)).count();
                }
            }
        }
        return n;
    }

    static String run(List<String> command, long seconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " did not finish within " + seconds + " s");
        }
        if (p.exitValue() != 0 && !command.get(0).equals("pgrep")) {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + p.exitValue() + "): " + out);
        }
        return out;
    }

    @Override
    public String toString() {
        return "node " + name;
    }
}
