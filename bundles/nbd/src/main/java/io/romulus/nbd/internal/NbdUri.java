package io.romulus.nbd.internal;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The source of an NBD guest disk, as QEMU takes it: {@code nbd+unix:///NAME?socket=PATH}. Names are kept to
 * characters that need no escaping in a URI (letters, digits, {@code . _ -}).
 *
 * @param export the export name
 * @param socket the server's unix socket
 */
record NbdUri(String export, Path socket) {

    private static final String SCHEME = "nbd+unix:///";
    private static final String SOCKET = "?socket=";

    NbdUri {
        if (!validName(export)) {
            throw new IllegalArgumentException("invalid NBD export name '" + export
                    + "': expected 1-128 letters, digits, '.', '_' or '-'");
        }
        socket = socket.toAbsolutePath().normalize();
    }

    /** Whether {@code name} can be an export name. */
    static boolean validName(String name) {
        return name != null && name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    }

    /** Parses a source written by {@link #toString()}; empty if it is not one. */
    static Optional<NbdUri> parse(String source) {
        if (source == null || !source.startsWith(SCHEME)) {
            return Optional.empty();
        }
        int query = source.indexOf(SOCKET, SCHEME.length());
        if (query < 0 || source.indexOf('?', SCHEME.length()) != query) {
            return Optional.empty();
        }
        String name = source.substring(SCHEME.length(), query);
        String socket = source.substring(query + SOCKET.length());
        if (!validName(name) || socket.isEmpty() || socket.contains("&") || !socket.startsWith("/")) {
            return Optional.empty();
        }
        return Optional.of(new NbdUri(name, Path.of(socket)));
    }

    @Override
    public String toString() {
        return SCHEME + export + SOCKET + socket;
    }
}
