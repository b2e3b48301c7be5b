package io.romulus.api.engine;

import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Objects;

import io.romulus.api.hypervisor.DomainId;

/**
 * What the operator asks for when protecting a domain.
 *
 * @param domain     the domain
 * @param peer       the backup's checkpoint address
 * @param intervalMs the epoch interval in milliseconds, or 0 for the configured default
 * @param options    binding options (for the synthetic domain: {@code memory}, {@code dirty-rate}, ...)
 * @param verify     end-to-end verification: every checkpoint carries a digest of the primary's whole memory taken in
 *                   the pause, and the backup checks its replica against it after each apply, refusing the epoch on a
 *                   mismatch. It reads all guest memory twice per epoch: a diagnostic and acceptance mode, not for
 *                   production load.
 * @param heartbeat  the backup's failure detector (UDP heartbeats), or {@code null} for the peer's host and the
 *                   configured default port
 */
public record ProtectRequest(DomainId domain, InetSocketAddress peer, int intervalMs, Map<String, String> options,
        boolean verify, InetSocketAddress heartbeat) {

    /** A request without verification. */
    public ProtectRequest(DomainId domain, InetSocketAddress peer, int intervalMs, Map<String, String> options) {
        this(domain, peer, intervalMs, options, false, null);
    }

    /** A request whose backup's heartbeats use the configured default port on the peer's host. */
    public ProtectRequest(DomainId domain, InetSocketAddress peer, int intervalMs, Map<String, String> options,
            boolean verify) {
        this(domain, peer, intervalMs, options, verify, null);
    }

    public ProtectRequest {
        Objects.requireNonNull(domain, "domain");
        Objects.requireNonNull(peer, "peer");
        if (intervalMs < 0) {
            throw new IllegalArgumentException("the interval must be positive, not " + intervalMs + " ms");
        }
        options = Map.copyOf(options);
    }

    /**
     * Parses {@code host:port}.
     *
     * @throws IllegalArgumentException with a message that says what is wrong
     */
    public static InetSocketAddress parsePeer(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("a peer is written host:port, for example 127.0.0.1:7480");
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException("'" + text + "' is not host:port (for example 127.0.0.1:7480)");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text.substring(colon + 1) + "' is not a port number");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is outside 1-65535");
        }
        return InetSocketAddress.createUnresolved(host, port);
    }
}
