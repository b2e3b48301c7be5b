package io.romulus.drbd.internal;

import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a {@link DrbdState} current from a streamed {@code drbdsetup events2 --timestamps --statistics} (all
 * resources) and logs what an operator must know: role changes, connections lost and regained, disk states, resync
 * progress. When drbdsetup ends (the module was unloaded, the process was killed) it is started again after
 * {@link #RESTART_DELAY_SECONDS}, and the state is reported afresh.
 */
public final class DrbdMonitor implements AutoCloseable {

    static final long RESTART_DELAY_SECONDS = 5;
    private static final Logger LOG = LoggerFactory.getLogger(DrbdMonitor.class);

    private final DrbdTools tools;
    private final DrbdState state = new DrbdState();
    private final ScheduledExecutorService restarts = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "romulus-drbd-monitor");
        t.setDaemon(true);
        return t;
    });
    private CommandRunner.Running running;
    private boolean closed;

    public DrbdMonitor(DrbdTools tools) {
        this.tools = tools;
    }

    /** Starts watching (idempotent). */
    public synchronized void start() {
        if (closed || running != null) {
            return;
        }
        state.clear();
        try {
            CommandRunner.Running r = tools.watch(null, this::onEvent,
                    m -> LOG.warn("ignoring a line of drbdsetup events2: {}", m.getMessage()));
            running = r;
            CompletableFuture<?> unused = r.exit().whenComplete((result, error) -> ended(r, result, error));
            LOG.debug("watching DRBD with {} events2", tools.drbdsetup());
        } catch (DrbdCommandException e) {
            LOG.warn("cannot watch DRBD state changes: {}", e.getMessage());
            scheduleRestart();
        }
    }

    private synchronized void ended(CommandRunner.Running r, CommandRunner.Result result, Throwable error) {
        if (running != r) {
            return;
        }
        running = null;
        if (closed) {
            return;
        }
        String why = error != null ? error.toString()
                : "exit " + result.exit() + (result.err().isBlank() ? "" : ": " + result.err().strip());
        LOG.warn("drbdsetup events2 ended ({}); restarting it in {} s", why, RESTART_DELAY_SECONDS);
        scheduleRestart();
    }

    private void scheduleRestart() {
        Future<?> unused = restarts.schedule(this::start, RESTART_DELAY_SECONDS, TimeUnit.SECONDS);
    }

    void onEvent(Events2Event e) {
        Optional<DrbdState.Resource> before = e.resource() == null ? Optional.empty() : state.resource(e.resource());
        Optional<DrbdState.Resource> after = state.apply(e);
        if (!state.initialStateComplete() || after.isEmpty()) {
            return;
        }
        report(before.orElse(null), after.get(), e);
    }

    private static void report(DrbdState.Resource before, DrbdState.Resource after, Events2Event e) {
        String res = after.name();
        switch (e.object()) {
            case Events2Event.RESOURCE -> {
                if (before == null || !Objects.equals(before.role(), after.role())) {
                    LOG.info("DRBD resource {} is now {} on this host", res, after.role());
                }
            }
            case Events2Event.CONNECTION -> {
                String key = DrbdState.connectionKey(e);
                DrbdState.Connection now = after.connections().get(key);
                DrbdState.Connection was = before == null ? null : before.connections().get(key);
                if (now == null) {
                    LOG.warn("DRBD resource {}: connection to {} removed", res, was == null ? key : was.name());
                } else if (was == null || !Objects.equals(was.state(), now.state())) {
                    if (now.connected()) {
                        LOG.info("DRBD resource {}: connected to {} (peer {})", res, now.name(), now.peerRole());
                    } else {
                        LOG.warn("DRBD resource {}: connection to {} is {}", res, now.name(), now.state());
                    }
                } else if (!Objects.equals(was.peerRole(), now.peerRole())) {
                    LOG.info("DRBD resource {}: peer {} is now {}", res, now.name(), now.peerRole());
                }
            }
            case Events2Event.DEVICE -> {
                int volume = DrbdState.intField(e.fields(), "volume");
                String was = before == null ? null : before.device(volume).map(DrbdState.Device::disk).orElse(null);
                String now = after.device(volume).map(DrbdState.Device::disk).orElse(null);
                if (!Objects.equals(was, now)) {
                    LOG.info("DRBD resource {} volume {}: local disk {}", res, volume, now);
                }
            }
            case Events2Event.PEER_DEVICE -> {
                String conn = DrbdState.connectionKey(e);
                int volume = DrbdState.intField(e.fields(), "volume");
                Optional<DrbdState.PeerDevice> now = after.peerDevice(conn, volume);
                Optional<DrbdState.PeerDevice> was = before == null ? Optional.empty()
                        : before.peerDevice(conn, volume);
                if (now.isPresent() && (was.isEmpty()
                        || !Objects.equals(was.get().replication(), now.get().replication())
                        || !Objects.equals(was.get().peerDisk(), now.get().peerDisk()))) {
                    LOG.info("DRBD resource {} volume {} to peer {}: replication {}, peer disk {}", res, volume,
                            e.get("conn-name"), now.get().replication(), now.get().peerDisk());
                } else if (now.isPresent() && now.get().donePercent() != null) {
                    LOG.debug("DRBD resource {} volume {} resync {}% done", res, volume, now.get().donePercent());
                }
            }
            default -> {
                LOG.debug("DRBD {}", e.line());
            }
        }
    }

    /** The state as last reported. */
    public DrbdState state() {
        return state;
    }

    @Override
    public synchronized void close() {
        closed = true;
        restarts.shutdownNow();
        if (running != null) {
            running.close();
            running = null;
        }
    }
}
