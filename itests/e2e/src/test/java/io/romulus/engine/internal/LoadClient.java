package io.romulus.engine.internal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * A load on the demo guest's read-only request: {@code CONNECTIONS} TCP connections, each keeping {@code DEPTH}
 * {@code get} lines outstanding (a new one for every answer), for {@code SECONDS}. Runs as a process of its own in
 * the client's namespace, and prints:
 *
 * <pre>
 * connected N                                  all connections are up
 * tick MS VALUE=COUNT ...                      every 100 ms: the answers since the last tick, by value
 * error CONNECTION LAST MESSAGE                a request failed (the connection broke or an answer took 30 s);
 *                                              LAST is the value of the connection's last answer (-1: none)
 * done answers=N errors=N                      at the end
 * </pre>
 *
 * The value an answer carries tells which copy of the guest gave it, when the copies' counters differ. With
 * {@code DEPTH} 0, each of the {@code CONNECTIONS} loops opens a new connection for every request instead (connect,
 * one {@code get}, its answer, close): what a balancer's retry policy is for.
 * Arguments: {@code HOST PORT CONNECTIONS DEPTH SECONDS}.
 */
public final class LoadClient {

    private static final AtomicReference<Map<Long, LongAdder>> TICK = new AtomicReference<>(new ConcurrentHashMap<>());
    private static final AtomicLong ANSWERS = new AtomicLong();
    private static final AtomicLong ERRORS = new AtomicLong();
    private static volatile boolean running = true;

    private LoadClient() {
    }

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int connections = Integer.parseInt(args[2]);
        int depth = Integer.parseInt(args[3]);
        long seconds = Long.parseLong(args[4]);
        InetSocketAddress target = new InetSocketAddress(host, port);
        Socket[] sockets = new Socket[connections];
        for (int i = 0; i < connections && depth > 0; i++) {
            sockets[i] = open(target);
        }
        say("connected " + connections);
        long start = System.nanoTime();
        Thread[] threads = new Thread[connections];
        for (int i = 0; i < connections; i++) {
            int n = i;
            threads[i] = new Thread(() -> {
                if (depth > 0) {
                    serve(n, sockets[n], depth);
                } else {
                    oneByOne(n, target);
                }
            }, "load-" + i);
            threads[i].setDaemon(true);
            threads[i].start();
        }
        long end = start + seconds * 1_000_000_000L;
        long next = start;
        while (System.nanoTime() < end) {
            next += 100_000_000L;
            long sleep = (next - System.nanoTime()) / 1_000_000L;
            if (sleep > 0) {
                Thread.sleep(sleep);
            }
            Map<Long, LongAdder> t = TICK.getAndSet(new ConcurrentHashMap<>());
            StringBuilder b = new StringBuilder("tick ").append((System.nanoTime() - start) / 1_000_000L);
            for (Map.Entry<Long, LongAdder> e : new TreeMap<>(t).entrySet()) {
                b.append(' ').append(e.getKey()).append('=').append(e.getValue().sum());
            }
            say(b.toString());
        }
        running = false;
        for (Socket s : sockets) {
            if (s != null) {
                s.close();
            }
        }
        say("done answers=" + ANSWERS.get() + " errors=" + ERRORS.get());
        System.exit(0);
    }

    private static Socket open(InetSocketAddress target) throws IOException {
        Socket s = new Socket();
        s.connect(target, 10_000);
        s.setSoTimeout(30_000);
        s.setTcpNoDelay(true);
        return s;
    }

    /** A connection per request, until the end; a request that fails is counted and the loop goes on. */
    private static void oneByOne(int n, InetSocketAddress target) {
        byte[] get = "get\n".getBytes(StandardCharsets.US_ASCII);
        long last = -1;
        while (running) {
            try (Socket s = open(target)) {
                s.getOutputStream().write(get);
                String line = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII))
                        .readLine();
                if (line == null) {
                    throw new IOException("the connection was closed before the answer");
                }
                long v = Long.parseLong(line.strip());
                last = v;
                TICK.get().computeIfAbsent(v, k -> new LongAdder()).increment();
                ANSWERS.incrementAndGet();
            } catch (IOException | RuntimeException e) {
                if (running) {
                    ERRORS.incrementAndGet();
                    say("error " + n + " " + last + " " + e);
                }
            }
        }
    }

    private static void serve(int n, Socket s, int depth) {
        long last = -1;
        try {
            OutputStream out = s.getOutputStream();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
            byte[] get = "get\n".getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < depth; i++) {
                out.write(get);
            }
            out.flush();
            while (running) {
                String line = in.readLine();
                if (line == null) {
                    throw new IOException("the connection was closed");
                }
                long v = Long.parseLong(line.strip());
                last = v;
                TICK.get().computeIfAbsent(v, k -> new LongAdder()).increment();
                ANSWERS.incrementAndGet();
                out.write(get);
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            if (running) {
                ERRORS.incrementAndGet();
                say("error " + n + " " + last + " " + e);
            }
        }
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
