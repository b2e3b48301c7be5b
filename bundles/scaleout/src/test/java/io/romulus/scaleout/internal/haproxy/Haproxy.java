package io.romulus.scaleout.internal.haproxy;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code haproxy} process for a test, with a generated configuration in a temporary
 * directory: a UNIX admin socket, a UNIX user-level socket, a TCP admin socket, a frontend on
 * 127.0.0.1 and two backends, {@code pairs} (roundrobin, one static server {@code s1}) and
 * {@code hashed} (balance source, which cannot take dynamic servers).
 */
final class Haproxy implements AutoCloseable {

    private static final List<String> BINARIES = List.of("/usr/sbin/haproxy", "/usr/bin/haproxy",
            "/usr/local/sbin/haproxy", "/usr/local/bin/haproxy");

    final Path dir;
    final Path adminSocket;
    final Path userSocket;
    final int tcpAdminPort;
    final int frontendPort;
    private final Process process;

    Haproxy(Path dir, int s1Port) throws IOException, InterruptedException {
        this.dir = dir;
        this.adminSocket = dir.resolve("admin.sock");
        this.userSocket = dir.resolve("user.sock");
        this.tcpAdminPort = freePort();
        this.frontendPort = freePort();
        Path config = dir.resolve("haproxy.cfg");
        Files.writeString(config, String.join("\n",
                "global",
                "    stats socket " + adminSocket + " mode 600 level admin",
                "    stats socket " + userSocket + " mode 600 level user",
                "    stats socket ipv4@127.0.0.1:" + tcpAdminPort + " level admin",
                "    stats timeout 10s",
                "defaults",
                "    mode tcp",
                "    timeout connect 1s",
                "    timeout client 10s",
                "    timeout server 10s",
                "frontend fe",
                "    bind 127.0.0.1:" + frontendPort,
                "    default_backend pairs",
                "backend pairs",
                "    balance roundrobin",
                "    server s1 127.0.0.1:" + s1Port,
                "backend hashed",
                "    balance source",
                "    server h1 127.0.0.1:" + s1Port,
                ""));
        Path log = dir.resolve("haproxy.log");
        process = new ProcessBuilder(binary(), "-db", "-f", config.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        HaproxyRuntime probe = admin();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            try {
                probe.command("show info");
                return;
            } catch (IOException e) {
                if (!process.isAlive() || System.nanoTime() - deadline > 0) {
                    close();
                    throw new IllegalStateException("haproxy did not start: " + Files.readString(log), e);
                }
                Thread.sleep(20);
            }
        }
    }

    /** A client on the UNIX admin socket. */
    HaproxyRuntime admin() {
        return new HaproxyRuntime(adminSocket.toString(), Duration.ofSeconds(2));
    }

    long pid() {
        return process.pid();
    }

    private static String binary() {
        for (String b : BINARIES) {
            if (Files.isExecutable(Path.of(b))) {
                return b;
            }
        }
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "haproxy"))) {
                return Path.of(d, "haproxy").toString();
            }
        }
        throw new IllegalStateException("haproxy not found (looked in " + BINARIES + " and PATH): install"
                + " Debian's haproxy package (apt-get install haproxy, as scripts/prerequisites.sh does)");
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                throw new IllegalStateException("haproxy " + process.pid() + " did not exit");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for haproxy " + process.pid() + " to exit", e);
        }
    }
}
