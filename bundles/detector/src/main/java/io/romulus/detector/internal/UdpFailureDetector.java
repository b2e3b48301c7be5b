package io.romulus.detector.internal;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.detector.FailureDetector;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Failure detection over UDP heartbeats (ARCHITECTURE.md section 6). Every {@code interval.ms} this node sends a
 * {@link Heartbeat} to each monitored peer from its own heartbeat port, then evaluates each peer's phi
 * ({@link PhiAccrual}): a peer is suspected once when phi reaches {@code threshold}, and recovered once when it falls
 * below again because the peer was heard from. A heartbeat is matched to peers by the node id it carries, or, if no
 * peer has that id, by the address it came from. {@link Monitor#alive()} (checkpoint ACKs) counts as being heard from.
 *
 * <p>Listeners are called on the detector's single scheduling thread, so one peer's calls never overlap.
 *
 * <p>Usable without OSGi: {@code new UdpFailureDetector(DetectorSettings.defaults("node-a"))}, closed with
 * {@link #close()}.
 */
@Component(service = FailureDetector.class, configurationPid = "io.romulus.detector")
@Designate(ocd = DetectorConfig.class)
public final class UdpFailureDetector implements FailureDetector, AutoCloseable {

    /**
     * One monitored peer as the shell and MBeans show it.
     *
     * @param peerId             the peer's node id
     * @param address            where heartbeats are sent to
     * @param phi                the suspicion level now
     * @param suspected          whether the peer is suspected
     * @param heartbeats         heartbeats received from it
     * @param silenceMillis      time since it was last heard from
     * @param meanIntervalMillis the mean heartbeat inter-arrival time
     * @param stdDevMillis       the standard deviation of the inter-arrival time
     */
    public record PeerStatus(String peerId, String address, double phi, boolean suspected, long heartbeats,
            double silenceMillis, double meanIntervalMillis, double stdDevMillis) {
    }

    private static final Logger LOG = LoggerFactory.getLogger(UdpFailureDetector.class);

    private final Object lock = new Object();
    private final ScheduledExecutorService scheduler;
    private final List<PeerMonitor> monitors = new CopyOnWriteArrayList<>();
    private final AtomicLong sequence = new AtomicLong();
    private volatile DetectorSettings settings;
    private volatile UdpHeartbeats socket;
    private volatile boolean closed;
    private ScheduledFuture<?> ticks;

    @Activate
    public UdpFailureDetector(DetectorConfig config) throws IOException {
        this(DetectorSettings.of(config));
    }

    /** Binds the heartbeat port and starts the heartbeat schedule; fails if the port cannot be bound. */
    public UdpFailureDetector(DetectorSettings settings) throws IOException {
        this.settings = settings;
        try {
            this.socket = UdpHeartbeats.bind(settings.listen(), this::received);
        } catch (IOException e) {
            LOG.error("failure detector unavailable: {}", e.getMessage());
            throw e;
        }
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "romulus-detector-heartbeats");
            t.setDaemon(true);
            return t;
        });
        synchronized (lock) {
            ticks = schedule(settings.intervalMs());
        }
        LOG.info("failure detector ready: node {}, {} ({})", settings.nodeId(), socket, settings);
    }

    @Modified
    void modified(DetectorConfig config) {
        update(DetectorSettings.of(config));
    }

    /**
     * Retunes without a restart: monitored peers keep their heartbeat history. A new listen address or port binds
     * the socket again; if that fails the old binding is restored when possible.
     */
    public void update(DetectorSettings next) {
        synchronized (lock) {
            if (closed) {
                return;
            }
            DetectorSettings previous = settings;
            if (next.rebinds(previous)) {
                rebind(previous, next);
            }
            settings = next;
            PhiAccrual.Parameters parameters = PhiAccrual.Parameters.of(next);
            for (PeerMonitor m : monitors) {
                m.accrual.retune(parameters);
            }
            if (next.intervalMs() != previous.intervalMs()) {
                ticks.cancel(false);
                ticks = schedule(next.intervalMs());
            }
            LOG.info("failure detector reconfigured: {}", next);
        }
    }

    private void rebind(DetectorSettings previous, DetectorSettings next) {
        UdpHeartbeats old = socket;
        socket = null;
        if (old != null) {
            old.close();
        }
        try {
            socket = UdpHeartbeats.bind(next.listen(), this::received);
            LOG.info("failure detector now on {}", socket);
        } catch (IOException e) {
            LOG.error("{}; keeping {}:{}", e.getMessage(), previous.listenAddress(), previous.listenPort());
            try {
                socket = UdpHeartbeats.bind(previous.listen(), this::received);
            } catch (IOException again) {
                LOG.error("failure detector has no heartbeat socket, every peer will be suspected: {}",
                        again.getMessage());
            }
        }
    }

    private ScheduledFuture<?> schedule(long intervalMs) {
        return scheduler.scheduleAtFixedRate(this::tick, 0, intervalMs, TimeUnit.MILLISECONDS);
    }

    @Deactivate
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            ticks.cancel(false);
        }
        scheduler.shutdownNow();
        try {
            if (!scheduler.awaitTermination(5, TimeUnit.SECONDS)) {
                LOG.warn("failure detector thread did not stop within 5 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        UdpHeartbeats s = socket;
        socket = null;
        if (s != null) {
            s.close();
        }
        monitors.clear();
        LOG.info("failure detector of node {} stopped", settings.nodeId());
    }

    @Override
    public Monitor monitor(String peerId, InetSocketAddress heartbeatAddress, Listener listener) {
        Objects.requireNonNull(heartbeatAddress, "heartbeatAddress");
        Objects.requireNonNull(listener, "listener");
        if (peerId == null || peerId.isBlank()) {
            throw new IllegalArgumentException("a monitored peer needs a node id");
        }
        PeerMonitor m = new PeerMonitor(peerId.strip(), heartbeatAddress, listener,
                new PhiAccrual(PhiAccrual.Parameters.of(settings), System::nanoTime));
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("the failure detector is closed");
            }
            monitors.add(m);
        }
        LOG.info("monitoring peer {} at {}", m.peerId, heartbeatAddress);
        return m;
    }

    /** The heartbeat socket's address (with the port chosen when 0 was configured), or null without a socket. */
    public InetSocketAddress localAddress() {
        UdpHeartbeats s = socket;
        return s == null ? null : s.localAddress();
    }

    /** Datagrams ignored on the heartbeat port (since it was last bound) because they were not heartbeats. */
    public long malformedHeartbeats() {
        UdpHeartbeats s = socket;
        return s == null ? 0 : s.malformed();
    }

    /** The settings in force. */
    public DetectorSettings settings() {
        return settings;
    }

    /** The monitored peers now. */
    public List<PeerStatus> peers() {
        List<PeerStatus> out = new ArrayList<>();
        for (PeerMonitor m : monitors) {
            out.add(m.status());
        }
        return out;
    }

    private void tick() {
        try {
            DetectorSettings s = settings;
            UdpHeartbeats out = socket;
            if (out != null && !monitors.isEmpty()) {
                byte[] datagram = new Heartbeat(s.nodeId(), sequence.getAndIncrement(), System.currentTimeMillis())
                        .toBytes();
                Set<InetSocketAddress> done = new HashSet<>();
                for (PeerMonitor m : monitors) {
                    InetSocketAddress to = m.target();
                    if (to != null && done.add(to)) {
                        out.send(datagram, to);
                    }
                }
            }
            for (PeerMonitor m : monitors) {
                m.check(s.threshold());
            }
        } catch (RuntimeException e) {
            // never let an exception end the periodic task
            LOG.warn("failure detector tick failed", e);
        }
    }

    private void received(Heartbeat heartbeat, InetSocketAddress from) {
        boolean matched = false;
        for (PeerMonitor m : monitors) {
            if (m.peerId.equals(heartbeat.nodeId())) {
                m.heartbeat(heartbeat);
                matched = true;
            }
        }
        if (!matched) {
            for (PeerMonitor m : monitors) {
                if (from.equals(m.target())) {
                    m.heartbeat(heartbeat);
                    matched = true;
                }
            }
        }
        if (!matched) {
            LOG.trace("heartbeat from {} at {}, which this node does not monitor", heartbeat.nodeId(), from);
        }
    }

    /** One monitored peer. */
    private final class PeerMonitor implements Monitor {

        final String peerId;
        final InetSocketAddress configured;
        final Listener listener;
        final PhiAccrual accrual;
        private volatile InetSocketAddress resolved;
        private volatile boolean suspected;
        private volatile boolean closed;
        private volatile long lastSequence = -1;

        PeerMonitor(String peerId, InetSocketAddress address, Listener listener, PhiAccrual accrual) {
            this.peerId = peerId;
            this.configured = address;
            this.listener = listener;
            this.accrual = accrual;
            this.resolved = address.isUnresolved() ? null : address;
        }

        /** Where heartbeats go; an unresolved host name is looked up again until it resolves. */
        InetSocketAddress target() {
            InetSocketAddress r = resolved;
            if (r == null) {
                InetSocketAddress again = new InetSocketAddress(configured.getHostString(), configured.getPort());
                if (again.isUnresolved()) {
                    LOG.debug("peer {}: host {} does not resolve yet", peerId, configured.getHostString());
                    return null;
                }
                resolved = again;
                r = again;
            }
            return r;
        }

        void heartbeat(Heartbeat heartbeat) {
            accrual.heartbeat();
            lastSequence = heartbeat.sequence();
        }

        /** Runs on the scheduling thread only. */
        void check(double threshold) {
            if (closed) {
                return;
            }
            double phi = accrual.phi();
            if (!suspected && phi >= threshold) {
                suspected = true;
                LOG.warn("peer {} at {} suspected: phi {} after {} ms without a heartbeat or ACK", peerId,
                        configured, String.format("%.1f", phi), String.format("%.0f", accrual.silenceMillis()));
                try {
                    listener.suspected(peerId, phi);
                } catch (RuntimeException e) {
                    LOG.warn("failure detector listener failed on suspicion of {}", peerId, e);
                }
            } else if (suspected && phi < threshold) {
                suspected = false;
                LOG.info("peer {} at {} recovered: phi {}", peerId, configured, String.format("%.1f", phi));
                try {
                    listener.recovered(peerId);
                } catch (RuntimeException e) {
                    LOG.warn("failure detector listener failed on recovery of {}", peerId, e);
                }
            }
        }

        PeerStatus status() {
            return new PeerStatus(peerId, configured.getHostString() + ":" + configured.getPort(), accrual.phi(),
                    suspected, accrual.heartbeats(), accrual.silenceMillis(), accrual.meanIntervalMillis(),
                    accrual.stdDevMillis());
        }

        @Override
        public double phi() {
            return accrual.phi();
        }

        @Override
        public void alive() {
            accrual.alive();
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                monitors.remove(this);
                LOG.info("no longer monitoring peer {} at {}", peerId, configured);
            }
        }

        @Override
        public String toString() {
            return "peer " + peerId + " at " + configured + " (phi " + String.format("%.2f", accrual.phi())
                    + ", last heartbeat #" + lastSequence + ")";
        }
    }
}
