package io.romulus.support.qmp;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A scripted QMP server on a unix socket, as QEMU's chardev server speaks it: one client at a time, a greeting, then
 * for each command the lines the script gives (events, then the answer carrying the command's id). It records the
 * commands without their ids and counts the connections. For tests of QMP clients that run without QEMU.
 * {@link #startSilent} makes one that accepts clients and never says a word, not even the greeting.
 */
public final class FakeQmpServer implements AutoCloseable {

    /** A greeting of QEMU 7.2.2 with no capabilities. */
    public static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 2, "
            + "\"major\": 7}}, \"capabilities\": []}}";

    /** What the server sends for one command. */
    @FunctionalInterface
    public interface Script {
        /**
         * The lines answering {@code command}.
         *
         * @param command the command without its id ({@code execute}, {@code arguments})
         * @param id      the command's id as JSON, for the answer
         * @return the lines to send; none closes the connection
         */
        List<String> answer(ObjectNode command, String id) throws IOException;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final ServerSocketChannel server;
    private final Script script;
    /** Whether it greets its clients (and then answers them); a silent one only reads what they send. */
    private final boolean greets;
    private final Thread serving;
    private final List<String> commands = new CopyOnWriteArrayList<>();
    private final List<Integer> connections = new CopyOnWriteArrayList<>();

    private FakeQmpServer(ServerSocketChannel server, Script script, boolean greets) {
        this.server = server;
        this.script = script;
        this.greets = greets;
        this.serving = new Thread(this::serve, "fake-qmp");
        serving.setDaemon(true);
    }

    /** Listens at {@code socket} and serves its clients one after the other with {@code script}. */
    public static FakeQmpServer start(Path socket, Script script) throws IOException {
        return start(socket, script, true);
    }

    /**
     * Listens at {@code socket}, accepts its clients one after the other and keeps each connection open until the
     * client closes it, without ever sending anything: a QEMU that hangs before its greeting.
     */
    public static FakeQmpServer startSilent(Path socket) throws IOException {
        return start(socket, (command, id) -> List.of(), false);
    }

    private static FakeQmpServer start(Path socket, Script script, boolean greets) throws IOException {
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ch.bind(UnixDomainSocketAddress.of(socket));
        FakeQmpServer s = new FakeQmpServer(ch, script, greets);
        s.serving.start();
        return s;
    }

    /** {@code {"return": {}, "id": ID}}. */
    public static String ok(String id) {
        return "{\"return\": {}, \"id\": " + id + "}";
    }

    /** {@code {"error": {"class": CLASS, "desc": DESC}, "id": ID}}. */
    public static String error(String id, String errorClass, String desc) throws IOException {
        return "{\"error\": {\"class\": " + JSON.writeValueAsString(errorClass) + ", \"desc\": "
                + JSON.writeValueAsString(desc) + "}, \"id\": " + id + "}";
    }

    /** An event line with QEMU's timestamp. */
    public static String event(String name, long seconds, long micros) {
        return "{\"timestamp\": {\"seconds\": " + seconds + ", \"microseconds\": " + micros + "}, \"event\": \""
                + name + "\"}";
    }

    /** The commands received so far, as compact JSON without their ids. */
    public List<String> commands() {
        return List.copyOf(commands);
    }

    /** The number of each connection accepted so far: 1, 2, ... */
    public List<Integer> connections() {
        return List.copyOf(connections);
    }

    private void serve() {
        int n = 0;
        while (server.isOpen()) {
            try (SocketChannel client = server.accept()) {
                connections.add(++n);
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                        StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(client);
                if (!greets) {
                    while (in.readLine() != null) {
                        // silent: the connection stays open until the client closes it
                    }
                    continue;
                }
                send(out, GREETING);
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    ObjectNode command = (ObjectNode) JSON.readTree(line);
                    String id = JSON.writeValueAsString(command.remove("id"));
                    commands.add(JSON.writeValueAsString(command));
                    List<String> answer = script.answer(command, id);
                    if (answer.isEmpty()) {
                        break;
                    }
                    for (String a : answer) {
                        send(out, a);
                    }
                }
            } catch (IOException e) {
                return; // closed by the test
            }
        }
    }

    private static void send(OutputStream out, String line) throws IOException {
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Override
    public void close() throws IOException {
        server.close();
        try {
            serving.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
