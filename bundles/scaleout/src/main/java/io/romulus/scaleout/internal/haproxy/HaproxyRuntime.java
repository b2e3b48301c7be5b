package io.romulus.scaleout.internal.haproxy;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of HAProxy's runtime API (the "stats socket" of the {@code global} section), the
 * only way Romulus drives the load balancer in front of its primary-backup pairs.
 *
 * <p>HAProxy must run with a socket at level admin, for example
 * {@code stats socket /run/haproxy/admin.sock mode 600 level admin} (a UNIX socket, given
 * here by its absolute path) or {@code stats socket ipv4@127.0.0.1:9999 level admin} (TCP,
 * given here as {@code host:port}). Each command is sent on its own connection in HAProxy's
 * non-interactive mode: the command and a newline go out, the answer is read until HAProxy
 * closes the connection. The client keeps no connection and is safe to share between threads.
 *
 * <p>This class holds the typed commands and the steps of taking a server out ({@link #removeServer}); the socket is
 * {@link RuntimeSocket}'s, and {@link RuntimeReplies} reads HAProxy's answers.
 *
 * <p>Needs HAProxy 2.4 or newer: dynamic servers ({@code add server}, {@code del server}) exist
 * since 2.4; it is written against and tested with 2.6 (Debian 12). What 2.6 restricts:
 * <ul>
 * <li>{@code add server} only works in a backend with a dynamic load-balancing algorithm
 * ({@code roundrobin}, {@code leastconn}, {@code first}, {@code random}); a hash-based one
 * ({@code source}, {@code uri}, {@code hdr}, ... or {@code static-rr}) is refused with
 * "Backend must use a dynamic load balancing to support dynamic servers.".</li>
 * <li>It accepts only a subset of the {@code server} keywords, among them {@code check},
 * {@code inter}, {@code rise}, {@code fall}, {@code weight}, {@code maxconn}, {@code backup},
 * {@code send-proxy}, {@code ssl}, {@code track} (of a static server) and {@code slowstart};
 * not {@code cookie} ("'cookie' option is not accepted for dynamic server"). Settings of a
 * {@code default-server} line are not applied.</li>
 * <li>A new server starts in maintenance and must be enabled ({@link #enableServer}); its
 * health check, if it has {@code check}, starts disabled ({@link #enableHealth}).</li>
 * <li>A dynamic server is lost on a reload unless it is also written to the configuration.</li>
 * <li>{@code del server} only deletes a server in maintenance, without connections and with an
 * empty queue, and not one referenced elsewhere in the configuration.</li>
 * </ul>
 */
public final class HaproxyRuntime {

    private static final Logger LOG = LoggerFactory.getLogger(HaproxyRuntime.class);

    private static final Duration POLL = Duration.ofMillis(100);
    /** How long {@link #removeServer} waits for cut sessions to close before it deletes. */
    private static final Duration CUT_GRACE = Duration.ofSeconds(2);
    private static final Pattern NAME = Pattern.compile("[^\\s/;#]+");

    /** The administrative states {@code set server ... state} can force. */
    public enum State {
        /** Back to normal: takes new connections again. */
        READY,
        /** Keeps its sessions but gets no new ones (except persistent ones). */
        DRAIN,
        /** Gets no new connections; its sessions are not cut. */
        MAINT;

        String word() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * What {@link #removeServer} did.
     *
     * @param drained     how long the server drained before it was put in maintenance
     * @param sessionsCut how many sessions were still open at the end of the drain and were shut
     */
    public record Removal(Duration drained, int sessionsCut) {
    }

    private final RuntimeSocket socket;
    private final RuntimeReplies replies;
    private final String endpoint;

    /**
     * @param endpoint the runtime API socket: an absolute path for a UNIX socket, or
     *                 {@code host:port} ({@code [v6addr]:port} for IPv6) for TCP
     * @param timeout  how long one command may take, connection included
     * @throws IllegalArgumentException if the endpoint is neither, or the timeout not positive
     */
    public HaproxyRuntime(String endpoint, Duration timeout) {
        this.socket = new RuntimeSocket(endpoint, timeout);
        this.endpoint = socket.endpoint();
        this.replies = new RuntimeReplies(this.endpoint, socket.statsSocketLine());
    }

    /** The endpoint as this client names it in messages: {@code unix:PATH} or {@code tcp:HOST:PORT}. */
    public String endpoint() {
        return endpoint;
    }

    // ---- typed operations ----------------------------------------------------------------

    /**
     * Checks that the socket is HAProxy's runtime API at level admin, in a version with dynamic
     * servers, and returns HAProxy's version (e.g. {@code 2.6.12-1+deb12u4}).
     *
     * @throws HaproxyException if the socket answers but not as HAProxy, not at level admin, or
     *                          as a version older than 2.4
     */
    public String version() throws IOException {
        String version = replies.version(command("show info"));
        replies.adminLevel(command("show cli level"));
        return version;
    }

    /**
     * The servers of a backend with their state and current sessions, in HAProxy's order
     * ({@code show servers state BACKEND} and {@code show stat BACKEND 4 -1}).
     *
     * @throws HaproxyException for an unknown backend ("Can't find backend.")
     */
    public List<Server> servers(String backend) throws IOException {
        requireName("backend", backend);
        String stateCommand = "show servers state " + backend;
        String state = command(stateCommand);
        return replies.servers(backend, stateCommand, state, () -> stats(backend));
    }

    /**
     * The current sessions of one server ({@code scur} of {@code show stat BACKEND 4 -1}).
     *
     * @throws HaproxyException for an unknown backend ("No such proxy.") or server
     */
    public int sessions(String backend, String server) throws IOException {
        requireName("server", server);
        String[] stat = stats(backend).get(server);
        if (stat == null) {
            throw new HaproxyException(endpoint, "show stat " + backend + " 4 -1", "No such server.", null);
        }
        return Integer.parseInt(stat[0]);
    }

    /**
     * Adds a server to a backend ({@code add server BACKEND/SERVER HOST:PORT OPTIONS}). The new
     * server starts in maintenance: {@link #enableServer} it, and {@link #enableHealth} if the
     * options contain {@code check}.
     *
     * @param options {@code server} keywords that {@code add server} accepts (see the class
     *                comment), e.g. {@code "check inter 1s"}; empty or {@code null} for none
     * @throws HaproxyException if HAProxy refuses: "No such backend.", "Already exists a server
     *                          with the same name in backend.", "unknown keyword 'x'.", "Backend
     *                          must use a dynamic load balancing to support dynamic servers."
     */
    public void addServer(String backend, String server, String host, int port, String options)
            throws IOException {
        String opts = options == null ? "" : options.strip();
        requireArgument("options", opts);
        String command = "add server " + path(backend, server) + " " + hostPort(host, port)
                + (opts.isEmpty() ? "" : " " + opts);
        expect(command, a -> a.equals("New server registered."));
        LOG.info("HAProxy at {}: added server {}/{} at {}:{} ({})", endpoint, backend, server, host, port,
                opts.isEmpty() ? "no options" : opts);
    }

    /** Takes a server out of maintenance ({@code enable server B/S}). */
    public void enableServer(String backend, String server) throws IOException {
        expect("enable server " + path(backend, server), String::isEmpty);
        LOG.info("HAProxy at {}: enabled server {}/{}", endpoint, backend, server);
    }

    /**
     * Starts a server's health checks ({@code enable health B/S}).
     *
     * @throws HaproxyException if the server has no {@code check}: "Health check was not
     *                          configured on this server, cannot enable."
     */
    public void enableHealth(String backend, String server) throws IOException {
        expect("enable health " + path(backend, server), String::isEmpty);
    }

    /** Forces a server's administrative state ({@code set server B/S state ready|drain|maint}). */
    public void setState(String backend, String server, State state) throws IOException {
        expect("set server " + path(backend, server) + " state " + state.word(), String::isEmpty);
        LOG.info("HAProxy at {}: server {}/{} set to {}", endpoint, backend, server, state);
    }

    /**
     * Points a server at another address ({@code set server B/S addr HOST port PORT}). New
     * connections go there; established ones stay where they are.
     *
     * @throws HaproxyException for an address HAProxy cannot use ("Invalid addr 'x' ...")
     */
    public void setAddress(String backend, String server, String host, int port) throws IOException {
        requireName("host", host);
        requirePort(port);
        expect("set server " + path(backend, server) + " addr " + host + " port " + port,
                a -> a.contains(" changed from ") || a.startsWith("no need to change"));
        LOG.info("HAProxy at {}: server {}/{} now at {}:{}", endpoint, backend, server, host, port);
    }

    /** Cuts every session of a server ({@code shutdown sessions server B/S}). */
    public void shutdownSessions(String backend, String server) throws IOException {
        expect("shutdown sessions server " + path(backend, server), String::isEmpty);
        LOG.info("HAProxy at {}: shut the sessions of server {}/{}", endpoint, backend, server);
    }

    /**
     * Deletes a server ({@code del server B/S}). HAProxy deletes only a server that is in
     * maintenance ({@link State#MAINT}), has no connection left and an empty queue; otherwise it
     * refuses ("Only servers in maintenance mode can be deleted.", "Server still has connections
     * attached to it, cannot remove it."). {@link #removeServer} does the whole sequence.
     */
    public void deleteServer(String backend, String server) throws IOException {
        expect("del server " + path(backend, server), a -> a.equals("Server deleted."));
        LOG.info("HAProxy at {}: deleted server {}/{}", endpoint, backend, server);
    }

    /**
     * Takes a server out of a backend without disturbing other servers' sessions: drains it,
     * waits (polling every 100 ms) until it has no session or {@code drainTimeout} has passed,
     * puts it in maintenance, shuts the sessions that remain, and deletes it.
     */
    public Removal removeServer(String backend, String server, Duration drainTimeout) throws IOException {
        long start = System.nanoTime();
        setState(backend, server, State.DRAIN);
        long deadline = start + drainTimeout.toNanos();
        int left = sessions(backend, server);
        while (left > 0 && System.nanoTime() - deadline < 0) {
            pause();
            left = sessions(backend, server);
        }
        Duration drained = Duration.ofNanos(System.nanoTime() - start);
        setState(backend, server, State.MAINT);
        int cut = sessions(backend, server);
        if (cut > 0) {
            LOG.info("HAProxy at {}: server {}/{} still has {} session(s) after draining {} ms; shutting them",
                    endpoint, backend, server, cut, drained.toMillis());
            shutdownSessions(backend, server);
            long cutDeadline = System.nanoTime() + CUT_GRACE.toNanos();
            while (sessions(backend, server) > 0 && System.nanoTime() - cutDeadline < 0) {
                pause();
            }
        }
        deleteServer(backend, server);
        return new Removal(drained, cut);
    }

    // ---- sending commands ----------------------------------------------------------------

    /**
     * Sends one command on a new connection and returns HAProxy's whole answer, unchecked.
     *
     * @throws IOException if the socket cannot be reached (the message names the endpoint and
     *                     the {@code stats socket} line HAProxy needs) or does not answer in time
     */
    public String command(String command) throws IOException {
        return socket.command(command);
    }

    /** Sends a command and checks HAProxy's trimmed answer; anything else is HAProxy refusing. */
    private void expect(String command, Predicate<String> success) throws IOException {
        String answer = command(command);
        if (!success.test(answer.strip())) {
            throw replies.refused(command, answer, null);
        }
    }

    /** Server name -> {scur, status} of {@code show stat BACKEND 4 -1}. */
    private Map<String, String[]> stats(String backend) throws IOException {
        requireName("backend", backend);
        String command = "show stat " + backend + " 4 -1";
        return replies.stats(command, command(command));
    }

    private static String path(String backend, String server) {
        requireName("backend", backend);
        requireName("server", server);
        return backend + "/" + server;
    }

    private static String hostPort(String host, int port) {
        requireName("host", host);
        requirePort(port);
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    /** A name goes into a command line: no blanks, no '/', and no ';' (HAProxy's command separator). */
    private static void requireName(String what, String value) {
        if (value == null || !NAME.matcher(value).matches()) {
            throw new IllegalArgumentException("HAProxy " + what + " '" + value
                    + "' must be non-empty, without blanks, '/', ';' or '#'");
        }
    }

    private static void requireArgument(String what, String value) {
        if (value.indexOf(';') >= 0 || value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) {
            throw new IllegalArgumentException("HAProxy " + what + " '" + value
                    + "' must not contain ';' or a line break");
        }
    }

    private static void requirePort(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is not from 1 to 65535");
        }
    }

    private static void pause() throws IOException {
        try {
            Thread.sleep(POLL.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for HAProxy");
        }
    }
}
