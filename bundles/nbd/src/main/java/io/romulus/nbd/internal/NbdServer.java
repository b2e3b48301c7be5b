package io.romulus.nbd.internal;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An NBD server on a unix socket: fixed newstyle negotiation, the exports it holds by name, one thread per connection
 * ({@link NbdConnection}). Requests a client pipelines are served in order, and replied to in order.
 */
final class NbdServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(NbdServer.class);

    private final Path socket;
    private final ServerSocketChannel listener;
    private final Map<String, NbdExport> exports = new ConcurrentHashMap<>();
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong connectionNumbers = new AtomicLong();
    private final Thread acceptor;
    private volatile boolean closed;

    private NbdServer(Path socket, ServerSocketChannel listener) {
        this.socket = socket;
        this.listener = listener;
        this.acceptor = new Thread(this::accept, "romulus-nbd-accept");
        this.acceptor.setDaemon(true);
    }

    /**
     * Listens on {@code socket}, creating its directory; a socket file left there by an earlier run is replaced.
     *
     * @throws IOException if the socket cannot be bound
     */
    static NbdServer start(Path socket) throws IOException {
        Path parent = socket.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.deleteIfExists(socket);
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            listener.bind(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            listener.close();
            throw new IOException("cannot listen for NBD clients on " + socket + ": " + e.getMessage(), e);
        }
        NbdServer server = new NbdServer(socket, listener);
        server.acceptor.start();
        LOG.info("NBD server listening on {}", socket);
        return server;
    }

    Path socket() {
        return socket;
    }

    /** Serves {@code export} under its name; fails if the name is taken. */
    void add(NbdExport export) {
        if (exports.putIfAbsent(export.name(), export) != null) {
            throw new IllegalStateException("NBD export " + export.name() + " exists already");
        }
    }

    /** The export of that name, or {@code null}. */
    NbdExport find(String name) {
        return exports.get(name);
    }

    Collection<NbdExport> exports() {
        return List.copyOf(exports.values());
    }

    /** Stops serving the export: its clients are disconnected and its image closed. */
    NbdExport remove(String name) {
        NbdExport export = exports.remove(name);
        if (export != null) {
            export.close();
        }
        return export;
    }

    private void accept() {
        while (!closed) {
            SocketChannel channel;
            try {
                channel = listener.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("NBD server on {}: accept failed: {}", socket, e.getMessage());
                }
                return;
            }
            NbdConnection connection = new NbdConnection(this, channel, connectionNumbers.incrementAndGet());
            connections.add(connection);
            Thread t = new Thread(() -> {
                try {
                    connection.run();
                } finally {
                    connections.remove(connection);
                }
            }, "romulus-nbd-" + connection.number());
            t.setDaemon(true);
            t.start();
        }
    }

    /** Stops listening, disconnects every client, closes every export and removes the socket file. */
    @Override
    public void close() {
        closed = true;
        try {
            listener.close();
        } catch (IOException e) {
            // closing anyway
        }
        for (NbdConnection c : new ArrayList<>(connections)) {
            c.close();
        }
        for (String name : new ArrayList<>(exports.keySet())) {
            remove(name);
        }
        try {
            acceptor.join(2000);
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.debug("NBD socket {} not removed: {}", socket, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("NBD server on {} stopped", socket);
    }

    @Override
    public String toString() {
        return "NBD server on " + socket + " (" + exports.size() + " exports)";
    }
}
