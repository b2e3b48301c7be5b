package io.romulus.support.qmp;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.InputStream;
import java.io.Reader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A QMP client over a unix socket: reads the greeting, negotiates capabilities, runs commands (several threads may
 * call {@link #execute}; answers are matched by id) and delivers asynchronous events to listeners on its reader
 * thread.
 */
public final class QmpClient implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(QmpClient.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * The longest line (one QMP message) read from QEMU, in characters: 4 MiB. QEMU's largest replies (query-qmp-schema,
     * query-block with many devices) are some hundreds of KiB; a longer line ends the connection instead of filling the
     * heap.
     */
    public static final int MAX_LINE_CHARS = 4 << 20;

    private final SocketChannel channel;
    private final BufferedReader in;
    private final Object writeLock = new Object();
    /** QEMU's greeting; the reader thread completes it with the first line. */
    private final CompletableFuture<JsonNode> greeting = new CompletableFuture<>();
    private final Map<String, Answer> pending = new ConcurrentHashMap<>();
    private final CopyOnWriteArrayList<Consumer<QmpEvent>> listeners = new CopyOnWriteArrayList<>();
    private final AtomicLong ids = new AtomicLong();
    private final Thread reader;
    private final Duration timeout;
    private volatile IOException failure;

    /** Reads the greeting, waiting for it until {@code deadline} ({@link System#nanoTime}), and negotiates. */
    private QmpClient(SocketChannel channel, Duration timeout, long deadline) throws IOException, InterruptedException {
        this.channel = channel;
        this.timeout = timeout;
        // not Channels.newInputStream/newOutputStream: on a blocking SocketChannel both take the channel's blocking
        // lock, so a reader blocked in read() would keep every command from being written
        this.in = new BufferedReader(new InputStreamReader(new ChannelInput(channel), StandardCharsets.UTF_8));
        // the reader thread reads the greeting, so that a server that never sends one cannot hold the caller
        this.reader = new Thread(this::read, "romulus-qmp-reader");
        this.reader.setDaemon(true);
        this.reader.start();
        try {
            greeting.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            close();
            throw new QmpException("no QMP greeting within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            close();
            throw e.getCause() instanceof QmpException q ? q
                    : new QmpException("reading the QMP greeting failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            close();
            throw e;
        }
        execute("qmp_capabilities", null);
    }

    /** Reads the first line, QEMU's greeting, and completes {@link #greeting} with it; false if there was none. */
    private boolean readGreeting() throws IOException {
        String first = readLine(in, MAX_LINE_CHARS);
        if (first == null) {
            greeting.completeExceptionally(new QmpException("QEMU closed the QMP socket before its greeting"));
            return false;
        }
        try {
            greeting.complete(greetingOf(first));
            return true;
        } catch (QmpException e) {
            greeting.completeExceptionally(e);
            return false;
        }
    }

    /** The {@code QMP} object of QEMU's greeting line. */
    static JsonNode greetingOf(String line) throws QmpException {
        JsonNode g;
        try {
            g = JSON.readTree(line);
        } catch (IOException e) {
            throw new QmpException("not a QMP greeting: " + line, e);
        }
        if (!g.has("QMP")) {
            throw new QmpException("not a QMP greeting: " + line);
        }
        return g.get("QMP");
    }

    /**
     * Connects to QEMU's QMP socket, waiting up to {@code timeout} for the socket to appear (QEMU creates it while it
     * starts) and for its greeting, and enters command mode.
     */
    public static QmpClient connect(Path socket, Duration timeout) throws IOException, InterruptedException {
        return connect(socket, timeout, () -> true);
    }

    /** As {@link #connect(Path, Duration)}, but gives up as soon as {@code alive} says QEMU has exited. */
    public static QmpClient connect(Path socket, Duration timeout, BooleanSupplier alive)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            if (!alive.getAsBoolean()) {
                throw new QmpException("QEMU exited before its QMP socket " + socket + " answered");
            }
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.connect(UnixDomainSocketAddress.of(socket));
                return new QmpClient(ch, timeout, deadline);
            } catch (LineTooLongException e) {
                // QEMU answered, with too much: trying again would read as much again
                ch.close();
                throw e;
            } catch (IOException e) {
                ch.close();
                last = e;
                Thread.sleep(20);
            }
        }
        throw new QmpException("no QMP socket answered at " + socket + " within " + timeout.toMillis() + " ms"
                + (last == null ? "" : ": " + last.getMessage()), last);
    }

    /** QEMU's version as the greeting gave it, {@code major.minor.micro}. */
    public String version() {
        JsonNode q = greeting().path("version").path("qemu");
        return q.path("major").asInt() + "." + q.path("minor").asInt() + "." + q.path("micro").asInt();
    }

    public JsonNode greeting() {
        return greeting.getNow(NullNode.getInstance());
    }

    /** Adds a listener for asynchronous events; it runs on the reader thread and must not block. */
    public void onEvent(Consumer<QmpEvent> listener) {
        listeners.add(listener);
    }

    /** A new arguments object for {@link #execute}. */
    public static ObjectNode arguments() {
        return JSON.createObjectNode();
    }

    /**
     * Runs a command and returns its {@code return} value.
     *
     * @throws QmpException with QEMU's error class and description if the command failed, or if the connection did
     */
    public JsonNode execute(String command, ObjectNode arguments) throws QmpException, InterruptedException {
        return execute(command, arguments, null);
    }

    /**
     * As {@link #execute(String, ObjectNode)}, and adds to {@code handOff[0]} the nanoseconds from the reader thread
     * having the reply in hand to the calling thread running again: the cost of handing the answer between threads,
     * apart from the round trip to QEMU.
     */
    public JsonNode execute(String command, ObjectNode arguments, long[] handOff)
            throws QmpException, InterruptedException {
        return executeAll(List.of(command), Arrays.asList(arguments), handOff).get(0);
    }

    /**
     * Runs {@code commands} (with {@code arguments}, an element of which may be null) pipelined: writes them all at
     * once, so that QEMU runs each as soon as the one before it is done, without a round trip between them, and
     * returns their {@code return} values in order. Hand-offs are counted as by {@link #execute(String, ObjectNode,
     * long[])}, for the last answer (the caller wakes once).
     *
     * @throws QmpException for the first command that failed (QEMU still ran the ones after it)
     */
    public List<JsonNode> executeAll(List<String> commands, List<ObjectNode> arguments, long[] handOff)
            throws QmpException, InterruptedException {
        IOException f = failure;
        if (f != null) {
            throw new QmpException("the QMP connection is closed: " + f.getMessage(), f);
        }
        List<String> sent = new ArrayList<>();
        List<Answer> answers = new ArrayList<>();
        StringBuilder lines = new StringBuilder();
        String command = commands.get(0);
        try {
            for (int i = 0; i < commands.size(); i++) {
                String id = "romulus-" + ids.incrementAndGet();
                ObjectNode request = JSON.createObjectNode().put("execute", commands.get(i)).put("id", id);
                ObjectNode args = arguments.get(i);
                if (args != null && !args.isEmpty()) {
                    request.set("arguments", args);
                }
                lines.append(JSON.writeValueAsString(request)).append('\n');
                Answer answer = new Answer();
                sent.add(id);
                answers.add(answer);
                pending.put(id, answer);
            }
            ByteBuffer line = ByteBuffer.wrap(lines.toString().getBytes(StandardCharsets.UTF_8));
            synchronized (writeLock) {
                while (line.hasRemaining()) {
                    channel.write(line);
                }
            }
            List<JsonNode> out = new ArrayList<>();
            for (int i = 0; i < answers.size(); i++) {
                command = commands.get(i);
                Answer answer = answers.get(i);
                JsonNode reply = answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                if (handOff != null && i == answers.size() - 1) {
                    handOff[0] += Math.max(0, System.nanoTime() - answer.readNanos);
                }
                out.add(returnOf(command, reply));
            }
            return out;
        } catch (QmpException e) {
            throw e;
        } catch (IOException e) {
            throw new QmpException("sending " + command + " failed: " + e.getMessage(), e);
        } catch (ExecutionException e) {
            throw new QmpException(command + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new QmpException(command + ": no answer within " + timeout.toMillis() + " ms");
        } finally {
            sent.forEach(pending::remove);
        }
    }

    private void read() {
        try {
            if (!readGreeting()) {
                fail(new QmpException("no QMP greeting"));
                return;
            }
            String line;
            while ((line = readLine(in, MAX_LINE_CHARS)) != null) {
                JsonNode msg = JSON.readTree(line);
                QmpEvent event = eventOf(msg);
                if (event != null) {
                    for (Consumer<QmpEvent> l : listeners) {
                        try {
                            l.accept(event);
                        } catch (RuntimeException e) {
                            LOG.warn("A QMP event listener failed on {}", event.name(), e);
                        }
                    }
                } else if (msg.has("id")) {
                    Answer answer = pending.get(msg.get("id").asText());
                    if (answer != null) {
                        answer.readNanos = System.nanoTime();
                        answer.complete(msg);
                    }
                } else {
                    LOG.debug("Unmatched QMP message: {}", line);
                }
            }
            fail(new QmpException("QEMU closed the QMP connection"));
        } catch (IOException e) {
            greeting.completeExceptionally(e);
            fail(e);
            if (e instanceof LineTooLongException) {
                LOG.warn("Closing the QMP connection: {}", e.getMessage());
                closeChannel();
            }
        }
    }

    /**
     * The next line of {@code in} without its end ({@code \n} or {@code \r\n}), or null at the end of the stream; a
     * line longer than {@code maxChars} is a {@link QmpException} naming the limit, read no further.
     */
    static String readLine(Reader in, int maxChars) throws IOException {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                int end = line.length();
                return line.substring(0, end > 0 && line.charAt(end - 1) == '\r' ? end - 1 : end);
            }
            if (line.length() >= maxChars) {
                throw new LineTooLongException(maxChars);
            }
            line.append((char) c);
        }
        return line.length() == 0 ? null : line.toString();
    }

    /** A line from QEMU longer than the limit: the connection is closed. */
    private static final class LineTooLongException extends QmpException {

        private static final long serialVersionUID = 1L;

        LineTooLongException(int maxChars) {
            super("a QMP message from QEMU is longer than " + (maxChars % (1 << 20) == 0 ? (maxChars >> 20) + " MiB"
                    : maxChars + " characters") + " (the limit of one line, QmpClient.MAX_LINE_CHARS); the "
                    + "connection is closed");
        }
    }

    /** The event a message of QEMU is, or null if it is none. */
    static QmpEvent eventOf(JsonNode msg) {
        if (!msg.has("event")) {
            return null;
        }
        JsonNode ts = msg.path("timestamp");
        return new QmpEvent(msg.get("event").asText(), msg.has("data") ? msg.get("data") : NullNode.getInstance(),
                ts.path("seconds").asLong() * 1_000_000 + ts.path("microseconds").asLong());
    }

    /** What QEMU's reply to {@code command} returned, or its error as a {@link QmpException}. */
    static JsonNode returnOf(String command, JsonNode reply) throws QmpException {
        if (reply.has("error")) {
            JsonNode e = reply.get("error");
            throw new QmpException(e.path("class").asText(), command + ": " + e.path("desc").asText(), null);
        }
        return reply.path("return");
    }

    private void fail(IOException cause) {
        failure = cause;
        pending.values().forEach(p -> p.completeExceptionally(cause));
    }

    /** The answer to one command, with when the reader thread had it ({@link System#nanoTime}). */
    private static final class Answer extends CompletableFuture<JsonNode> {

        volatile long readNanos;
    }

    /** Reads straight from the channel, without the blocking lock that would serialise it with writes. */
    private static final class ChannelInput extends InputStream {

        private final SocketChannel channel;

        ChannelInput(SocketChannel channel) {
            this.channel = channel;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            int n;
            do {
                n = channel.read(ByteBuffer.wrap(b, off, len));
            } while (n == 0);
            return n;
        }
    }

    private void closeChannel() {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("Closing the QMP socket failed", e);
        }
    }

    /** Whether the connection is still up. */
    public boolean isOpen() {
        return failure == null && channel.isOpen();
    }

    @Override
    public void close() {
        closeChannel();
        try {
            reader.join(TimeUnit.SECONDS.toMillis(2));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
