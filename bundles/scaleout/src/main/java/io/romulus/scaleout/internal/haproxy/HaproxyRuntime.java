package io.romulus.scaleout.internal.haproxy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
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

    /** The HAProxy version that introduced dynamic servers. */
    static final int[] MINIMUM_VERSION = {2, 4};

    private static final Duration POLL = Duration.ofMillis(100);
    /** How long {@link #removeServer} waits for cut sessions to close before it deletes. */
    private static final Duration CUT_GRACE = Duration.ofSeconds(2);
    private static final Pattern NAME = Pattern.compile("[^\\s/;#]+");
    private static final Pattern VERSION = Pattern.compile("^(\\d+)\\.(\\d+)");

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

    private final String endpoint;
    private final Path unixPath;
    private final String host;
    private final int port;
    private final Duration timeout;

    /**
     * @param endpoint the runtime API socket: an absolute path for a UNIX socket, or
     *                 {@code host:port} ({@code [v6addr]:port} for IPv6) for TCP
     * @param timeout  how long one command may take, connection included
     * @throws IllegalArgumentException if the endpoint is neither, or the timeout not positive
     */
    public HaproxyRuntime(String endpoint, Duration timeout) {
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
        String info = command("show info");
        Map<String, String> fields = new HashMap<>();
        info.lines().forEach(line -> {
            int colon = line.indexOf(':');
            if (colon > 0) {
                fields.put(line.substring(0, colon), line.substring(colon + 1).strip());
            }
        });
        if (!"HAProxy".equals(fields.get("Name")) || !fields.containsKey("Version")) {
            throw refused("show info", info, "the socket answers but not as HAProxy's runtime API");
        }
        String version = fields.get("Version");
        Matcher m = VERSION.matcher(version);
        if (!m.find()) {
            throw refused("show info", info, "cannot read HAProxy's version '" + version + "'");
        }
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        if (major < MINIMUM_VERSION[0] || (major == MINIMUM_VERSION[0] && minor < MINIMUM_VERSION[1])) {
            throw refused("show info", "Version: " + version,
                    "dynamic servers need HAProxy 2.4 or newer; Debian 12's haproxy is 2.6");
        }
        String level = command("show cli level").strip();
        if (!"admin".equals(level)) {
            throw refused("show cli level", level, "the socket is at level '" + level + "'; Romulus needs "
                    + statsSocketLine() + " in HAProxy's global section");
        }
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
        List<String> lines = state.lines().filter(l -> !l.isBlank()).toList();
        if (lines.isEmpty() || !lines.get(0).strip().matches("\\d+")) {
            throw refused(stateCommand, state, null);
        }
        if (!lines.get(0).strip().equals("1") || lines.size() < 2 || !lines.get(1).startsWith("# ")) {
            throw refused(stateCommand, state, "this client reads version 1 of show servers state");
        }
        List<String> columns = Arrays.asList(lines.get(1).substring(2).strip().split(" "));
        int cName = column(stateCommand, columns, "srv_name");
        int cId = column(stateCommand, columns, "srv_id");
        int cAddr = column(stateCommand, columns, "srv_addr");
        int cOp = column(stateCommand, columns, "srv_op_state");
        int cAdmin = column(stateCommand, columns, "srv_admin_state");
        int cWeight = column(stateCommand, columns, "srv_uweight");
        int cPort = column(stateCommand, columns, "srv_port");
        Map<String, String[]> stats = stats(backend);
        List<Server> servers = new ArrayList<>();
        for (String line : lines.subList(2, lines.size())) {
            String[] f = line.strip().split(" ");
            if (f.length < columns.size()) {
                throw refused(stateCommand, state, "a server line has " + f.length + " of "
                        + columns.size() + " columns");
            }
            String name = f[cName];
            String[] stat = stats.get(name);
            servers.add(new Server(backend, name, Integer.parseInt(f[cId]),
                    "-".equals(f[cAddr]) ? null : f[cAddr], Integer.parseInt(f[cPort]),
                    Server.OperationalState.of(Integer.parseInt(f[cOp])), Integer.parseInt(f[cAdmin]),
                    Integer.parseInt(f[cWeight]), stat == null ? 0 : Integer.parseInt(stat[0]),
                    stat == null ? "" : stat[1]));
        }
        return servers;
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

    // ---- the protocol --------------------------------------------------------------------

    /**
     * Sends one command on a new connection and returns HAProxy's whole answer, unchecked.
     *
     * @throws IOException if the socket cannot be reached (the message names the endpoint and
     *                     the {@code stats socket} line HAProxy needs) or does not answer in time
     */
    public String command(String command) throws IOException {
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
        if (left <= 0 || selector.select(Math.max(1, left / 1_000_000)) == 0 && deadline - System.nanoTime() <= 0) {
            throw new IOException("HAProxy's runtime API at " + endpoint + " did not finish answering `"
                    + command + "` within " + timeout.toMillis() + " ms");
        }
        selector.selectedKeys().clear();
    }

    private String statsSocketLine() {
        return unixPath != null ? "stats socket " + unixPath + " level admin"
                : "stats socket ipv4@" + host + ":" + port + " level admin";
    }

    /** Sends a command and checks HAProxy's trimmed answer; anything else is HAProxy refusing. */
    private void expect(String command, Predicate<String> success) throws IOException {
        String answer = command(command);
        if (!success.test(answer.strip())) {
            throw refused(command, answer, null);
        }
    }

    private HaproxyException refused(String command, String answer, String hint) {
        String text = answer.strip();
        if (text.startsWith("Unknown command")) {
            // HAProxy lists the commands it would understand; the first line says it all.
            text = text.lines().findFirst().orElse(text);
            if (hint == null) {
                hint = "dynamic servers need HAProxy 2.4 or newer with " + statsSocketLine();
            }
        } else if (text.equals("Permission denied") && hint == null) {
            hint = "the socket is not at level admin; Romulus needs " + statsSocketLine();
        }
        if (text.isEmpty()) {
            text = "(empty answer)";
        }
        return new HaproxyException(endpoint, command, text, hint);
    }

    /** Server name -> {scur, status} of {@code show stat BACKEND 4 -1}. */
    private Map<String, String[]> stats(String backend) throws IOException {
        requireName("backend", backend);
        String command = "show stat " + backend + " 4 -1";
        String csv = command(command);
        List<String> lines = csv.lines().filter(l -> !l.isBlank()).toList();
        if (lines.isEmpty() || !lines.get(0).startsWith("# pxname,")) {
            throw refused(command, csv, null);
        }
        List<String> columns = csv(lines.get(0).substring(2));
        int cName = column(command, columns, "svname");
        int cScur = column(command, columns, "scur");
        int cStatus = column(command, columns, "status");
        Map<String, String[]> stats = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            List<String> f = csv(line);
            if (f.size() > Math.max(cName, Math.max(cScur, cStatus))) {
                String scur = f.get(cScur).isEmpty() ? "0" : f.get(cScur);
                stats.put(f.get(cName), new String[] {scur, f.get(cStatus)});
            }
        }
        return stats;
    }

    /** Splits one line of HAProxy's CSV, where a field with a comma is in double quotes. */
    static List<String> csv(String line) {
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    field.append(c);
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                fields.add(field.toString());
                field.setLength(0);
            } else {
                field.append(c);
            }
        }
        fields.add(field.toString());
        return fields;
    }

    private int column(String command, List<String> columns, String name) throws HaproxyException {
        int i = columns.indexOf(name);
        if (i < 0) {
            throw new HaproxyException(endpoint, command, "no column '" + name + "'",
                    "an HAProxy version whose output this client does not know");
        }
        return i;
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
