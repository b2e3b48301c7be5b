package io.romulus.scaleout.internal;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

import io.romulus.scaleout.internal.haproxy.HaproxyRuntime;

/**
 * The {@link Balancer} as HAProxy (2.4 or later) through its runtime API: servers added at run time with health
 * checks ({@value #SERVER_OPTIONS}), so that a pair that is failing over is skipped by new connections until its
 * replica runs, while its established connections wait for it (the guest keeps its TCP connections across a
 * failover). The backend's {@code retries} and {@code option redispatch} are the retry policy for a connection that
 * meets a pair in the middle of its failover.
 */
public final class HaproxyBalancer implements Balancer {

    /** Health checks every 500 ms; two failures mark a server down, one success up again. */
    static final String SERVER_OPTIONS = "check inter 500 fall 2 rise 1";

    private final HaproxyRuntime api;

    public HaproxyBalancer(String endpoint) {
        this.api = new HaproxyRuntime(endpoint, Duration.ofSeconds(5));
    }

    @Override
    public List<Server> servers(String backend) throws IOException {
        return api.servers(backend).stream().map(s -> new Server(s.name(), s.address() + ":" + s.port(),
                s.status().name(), s.sessions())).toList();
    }

    @Override
    public void add(String backend, String server, String host, int port) throws IOException {
        api.addServer(backend, server, host, port, SERVER_OPTIONS);
        api.enableHealth(backend, server);
        api.enableServer(backend, server);
    }

    @Override
    public void repoint(String backend, String server, String host, int port) throws IOException {
        api.setAddress(backend, server, host, port);
        api.setState(backend, server, HaproxyRuntime.State.READY);
    }

    @Override
    public int remove(String backend, String server, Duration drain) throws IOException {
        return api.removeServer(backend, server, drain).sessionsCut();
    }

    @Override
    public String describe() {
        return "HAProxy at " + api.endpoint();
    }
}
