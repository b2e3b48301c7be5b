package io.romulus.scaleout.internal.haproxy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transport of HAProxy's runtime API: the admin socket, a UNIX socket given by its absolute path or TCP given as
 * {@code host:port}. Each command goes on its own connection in HAProxy's non-interactive mode: the command and a
 * newline go out, the answer is read until HAProxy closes the connection, all within the timeout. It keeps no
 * connection and is safe to share between threads.
 */
final class RuntimeSocket {

    private static final Logger LOG = LoggerFactory.getLogger(RuntimeSocket.class);

    private final String endpoint;
    private final Path unixPath;
    private final String host;
    private final int port;
    private final Duration timeout;

    /** See {@link HaproxyRuntime#HaproxyRuntime(String, Duration)}. */
    RuntimeSocket(String endpoint, Duration timeout) {
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("HAProxy runtime API timeout must be positive, not " + timeout);
        }
        this.timeout = timeout;
        String e = endpoint == null ? "" : endpoint.strip();
        if (e.isEmpty()) {
            throw new IllegalArgumentException("HAProxy runtime API endpoint is empty: give the absolute path of"
                    + " its UNIX socket (e.g. /run/haproxy/admin.sock) or host:port (e.g. 127.0.0.1:9999)");
        }
        if (e.startsWith("/")) {
            this.unixPath = Path.of(e);
            this.host = null;
            this.port = 0;
            this.endpoint = "unix:" + e;
            return;
        }
        int colon = e.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("HAProxy runtime API endpoint '" + e + "' is neither an absolute"
                    + " path of a UNIX socket (e.g. /run/haproxy/admin.sock) nor host:port (e.g. 127.0.0.1:9999)");
        }
        String h = e.substring(0, colon);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        } else if (h.indexOf(':') >= 0) {
            throw new IllegalArgumentException("HAProxy runtime API endpoint '" + e
                    + "': write an IPv6 address in brackets, e.g. [::1]:9999");
        }
        if (h.isEmpty()) {
            throw new IllegalArgumentException("HAProxy runtime API endpoint '" + e + "' has no host before the port");
        }
        String p = e.substring(colon + 1);
        int parsed;
        try {
            parsed = Integer.parseInt(p);
        } catch (NumberFormatException ex) {
            parsed = -1;
        }
        if (parsed < 1 || parsed > 65535) {
            throw new IllegalArgumentException("HAProxy runtime API endpoint '" + e + "': port '" + p
                    + "' is not a number from 1 to 65535");
        }
        this.unixPath = null;
        this.host = h;
        this.port = parsed;
        this.endpoint = "tcp:" + e;
    }

    /** The endpoint as messages name it: {@code unix:PATH} or {@code tcp:HOST:PORT}. */
    String endpoint() {
        return endpoint;
    }

    /** The line HAProxy's {@code global} section needs for this socket. */
    String statsSocketLine() {
        return unixPath != null ? "stats socket " + unixPath + " level admin"
                : "stats socket ipv4@" + host + ":" + port + " level admin";
    }

    /** See {@link HaproxyRuntime#command}. */
    String command(String command) throws IOException {
        if (command.indexOf('\n') >= 0 || command.indexOf('\r') >= 0) {
            throw new IllegalArgumentException("an HAProxy command is one line: " + command.strip());
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        LOG.debug("HAProxy at {}: {}", endpoint, command);
        try (SocketChannel channel = connect(deadline); Selector selector = Selector.open()) {
            ByteBuffer out = ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.UTF_8));
            channel.register(selector, SelectionKey.OP_WRITE);
            while (out.hasRemaining()) {
                await(selector, deadline, command);
                channel.write(out);
            }
            channel.register(selector, SelectionKey.OP_READ);
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            ByteBuffer in = ByteBuffer.allocate(8192);
            while (true) {
                await(selector, deadline, command);
                int n = channel.read(in);
                if (n < 0) {
                    break;
                }
                answer.write(in.array(), 0, in.position());
                in.clear();
            }
            String text = answer.toString(StandardCharsets.UTF_8);
            LOG.trace("HAProxy at {} answered `{}`: {}", endpoint, command, text);
            return text;
        }
    }

    private SocketChannel connect(long deadline) throws IOException {
        SocketAddress address;
        SocketChannel channel;
        if (unixPath != null) {
            address = UnixDomainSocketAddress.of(unixPath);
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        } else {
            InetSocketAddress inet = new InetSocketAddress(host, port);
            if (inet.isUnresolved()) {
                throw new IOException("cannot reach HAProxy's runtime API at " + endpoint + ": cannot resolve '"
                        + host + "'");
            }
            address = inet;
            channel = SocketChannel.open();
        }
        try {
            channel.configureBlocking(false);
            if (!channel.connect(address)) {
                try (Selector selector = Selector.open()) {
                    channel.register(selector, SelectionKey.OP_CONNECT);
                    while (!channel.finishConnect()) {
                        await(selector, deadline, "connect");
                    }
                }
            }
            return channel;
        } catch (IOException e) {
            channel.close();
            throw new IOException("cannot reach HAProxy's runtime API at " + endpoint + " (" + e.getMessage()
                    + "): is HAProxy running with `" + statsSocketLine() + "`?", e);
        }
    }

    private void await(Selector selector, long deadline, String command) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0 || (selector.select(Math.max(1, left / 1_000_000)) == 0 && deadline - System.nanoTime() <= 0)) {
            throw new IOException("HAProxy's runtime API at " + endpoint + " did not finish answering `"
                    + command + "` within " + timeout.toMillis() + " ms");
        }
        selector.selectedKeys().clear();
    }
}
