package io.romulus.scaleout.internal;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * The load balancer in front of the pairs, as scale-out uses it: one backend per scaled domain, one server per pair.
 * {@link HaproxyBalancer} drives HAProxy through its runtime API; tests use their own.
 */
public interface Balancer {

    /** The servers of {@code backend}; an {@link IOException} if the balancer has no such backend. */
    List<Server> servers(String backend) throws IOException;

    /** Adds a server and puts it in service (health checks on, if its options check). */
    void add(String backend, String server, String host, int port) throws IOException;

    /** Points a server at {@code host:port} and makes it ready (after its pair failed over). */
    void repoint(String backend, String server, String host, int port) throws IOException;

    /**
     * Takes a server out of service without dropping what it serves: no new connections, then up to {@code drain}
     * for its open ones to end, then it is deleted (connections still open then are cut).
     *
     * @return how many connections were cut
     */
    int remove(String backend, String server, Duration drain) throws IOException;

    /** Where the balancer is, for messages. */
    String describe();

    /**
     * One server of a backend.
     *
     * @param name     the server's name ({@code p1}, {@code p2}, ...)
     * @param address  {@code host:port}
     * @param state    for display: {@code UP}, {@code DOWN}, {@code MAINT}, {@code DRAIN}, ...
     * @param sessions connections it serves now
     */
    record Server(String name, String address, String state, int sessions) {
    }
}
