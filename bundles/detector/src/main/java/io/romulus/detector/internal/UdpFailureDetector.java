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
import io.romulus.api.node.NodeIdentity;
import io.romulus.support.linux.ThreadPriority;
import io.romulus.support.secret.SecretFile;

import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Failure detection over UDP heartbeats (ARCHITECTURE.md section 6). Every {@code interval.ms} this node sends a
 * {@link Heartbeat} to each monitored peer from its own heartbeat port, then evaluates each peer's phi
 * ({@link PhiAccrual}): a peer is suspected once when phi reaches {@code threshold}, and recovered once when it falls
 * below again because the peer was heard from. A heartbeat is matched to peers by the node id it carries, or, if no
 * peer has that id, by the address it came from (configured addresses only). {@link Monitor#alive()} (checkpoint ACKs)
 * counts as being heard from.
 *
 * <p>A peer monitored without an address is sent heartbeats at the source address of its own heartbeats (matched by
 * node id) once one arrived, and follows it when it changes (the peer restarted on another port or host). Until then
 * it is sent none; it is watched all the same, from the moment it is monitored, so a peer that is never heard from is
 * suspected like one that stopped.
 *
 * <p>With a secret file ({@code auth.secret.file}, the stream's) heartbeats carry a MAC and only those a node holding
 * the secret sent, once, lately count ({@link HeartbeatGuard}); the others are counted ({@link #rejectedHeartbeats()})
 * and ignored, so that heartbeats forged in a dead peer's name cannot keep it alive. Without one, every well-formed
 * heartbeat counts, and the detector says so at WARN when it starts.
 *
 * <p>Listeners are called on the detector's single scheduling thread, so one peer's calls never overlap.
 *
 * <p>Usable without OSGi: {@code new UdpFailureDetector(DetectorSettings.defaults("node-a"))}, closed with
 * {@link #close()}.
 */
@Component(service = {FailureDetector.class, UdpFailureDetector.class},
        configurationPid = UdpFailureDetector.PID)
@Designate(ocd = DetectorConfig.class)
public final class UdpFailureDetector implements FailureDetector, AutoCloseable {

    /**
     * One monitored peer as the shell and MBeans show it.
     *
     * @param monitor             the monitor's number on this node, from 1 (a peer watched twice has two)
     * @param peerId              the peer's node id
     * @param address             where heartbeats are sent to, {@code host:port}; empty while a learned address is
     *                            not known yet
     * @param learned             whether the address is learned from the peer's heartbeats rather than configured
     * @param phi                 the suspicion level now
     * @param suspected           whether the peer is suspected
     * @param heartbeats          heartbeats received from it
     * @param silenceMillis       time since it was last heard from (heartbeat or other evidence)
     * @param meanIntervalMillis  the mean heartbeat inter-arrival time
     * @param stdDevMillis        the standard deviation of the inter-arrival time
     * @param suspicions          how many times it became suspected
     * @param lastHeartbeatMillis wall-clock time of its last heartbeat, epoch milliseconds, 0 if none arrived
     */
    public record PeerStatus(long monitor, String peerId, String address, boolean learned, double phi,
            boolean suspected, long heartbeats, double silenceMillis, double meanIntervalMillis, double stdDevMillis,
            long suspicions, long lastHeartbeatMillis) {
    }

    static final String PID = "io.romulus.detector";

    /**
     * The real-time priority ({@code SCHED_RR}) of the heartbeat threads, which only block and send or receive one
     * datagram: low among real-time threads (the kernel's own run at 50 and above), above every normal one.
     */
    static final int REALTIME_PRIORITY = 10;

    private static final Logger LOG = LoggerFactory.getLogger(UdpFailureDetector.class);

    private final Object lock = new Object();
    private final ScheduledExecutorService scheduler;
    private final List<PeerMonitor> monitors = new CopyOnWriteArrayList<>();
    /** From the wall clock in microseconds: a restarted node continues above the sequences it sent before. */
    private final AtomicLong sequence = new AtomicLong(System.currentTimeMillis() * 1000);
    private final HeartbeatGuard guard;
    private final AtomicLong monitorNumbers = new AtomicLong();
    /** Where the node id is read on a change of configuration; null without OSGi. */
    private final ConfigurationAdmin configurations;
    private volatile DetectorSettings settings;
    private volatile UdpHeartbeats socket;
    private volatile boolean closed;
    private ScheduledFuture<?> ticks;
    /** When the last tick ran, and until when phi is not judged after this node stalled (scheduling thread only). */
    private long lastTickNanos;
    private long judgeAgainAtNanos = System.nanoTime();
    private final AtomicLong localStalls = new AtomicLong();
    /** A tick this much late (or three intervals, if more) means this node stalled. */
    private static final long LOCAL_STALL_NANOS = TimeUnit.MILLISECONDS.toNanos(40);

    /**
     * DS entry point: the node id is the node's one ({@link NodeIdentity}), read here and on every change of the
     * detector's configuration.
     */
    @Activate
    public UdpFailureDetector(DetectorConfig config, @Reference ConfigurationAdmin configurations)
            throws IOException {
        this(DetectorSettings.of(config, nodeId(configurations)), configurations);
    }

    /** Binds the heartbeat port and starts the heartbeat schedule; fails if the port cannot be bound. */
    public UdpFailureDetector(DetectorSettings settings) throws IOException {
        this(settings, null);
    }

    private UdpFailureDetector(DetectorSettings settings, ConfigurationAdmin configurations) throws IOException {
        this.configurations = configurations;
        this.settings = settings;
        HeartbeatKey key;
        try {
            key = key(settings);
        } catch (IOException e) {
            LOG.error("failure detector unavailable: {}", e.getMessage());
            throw e;
        }
        this.guard = new HeartbeatGuard(key, System::currentTimeMillis);
        try {
            this.socket = UdpHeartbeats.bind(settings.listen(), guard, this::received);
        } catch (IOException e) {
            LOG.error("failure detector unavailable: {}", e.getMessage());
            throw e;
        }
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(() -> {
                LOG.info("heartbeat sender runs with {}", ThreadPriority.raiseCurrentThread(REALTIME_PRIORITY));
                r.run();
            }, "romulus-detector-heartbeats");
            t.setDaemon(true);
            return t;
        });
        synchronized (lock) {
            ticks = schedule(settings.intervalMs());
        }
        LOG.info("failure detector ready: node {}, {} ({})", settings.nodeId(), socket, settings);
    }

    /**
     * The heartbeat key of the settings' secret file (created if missing, as the stream does), or null without one,
     * said at WARN.
     */
    private static HeartbeatKey key(DetectorSettings settings) throws IOException {
        if (settings.secretFile() == null) {
            LOG.warn("heartbeats are not authenticated (auth.secret.file of {} is empty): anyone who can send UDP to "
                    + "port {} can keep a failed peer alive in this node's eyes and delay its failover", PID,
                    settings.listenPort());
            return null;
        }
        return HeartbeatKey.of(SecretFile.loadOrCreate(settings.secretFile()));
    }

    @Modified
    void modified(DetectorConfig config) throws IOException {
        update(DetectorSettings.of(config, nodeId(configurations)));
    }

    /** {@value NodeIdentity#KEY} of {@value NodeIdentity#PID}, else (deprecated, logged) the detector's own. */
    private static String nodeId(ConfigurationAdmin configurations) throws IOException {
        NodeIdentity.Resolved r = NodeIdentity.read(configurations, PID);
        if (!r.warning().isEmpty()) {
            LOG.warn("{}", r.warning());
        }
        return r.nodeId();
    }

    /**
     * Retunes without a restart: monitored peers keep their heartbeat history. A new listen address or port binds
     * the socket again; if that fails the old binding is restored when possible. Another secret file is read (and
     * created if missing); if it cannot be, heartbeats keep the previous secret.
     */
    public void update(DetectorSettings requested) {
        DetectorSettings next = requested;
        synchronized (lock) {
            if (closed) {
                return;
            }
            DetectorSettings previous = settings;
            if (!Objects.equals(next.secretFile(), previous.secretFile())) {
                try {
                    guard.key(key(next));
                } catch (IOException e) {
                    LOG.error("{}; heartbeats keep the secret of {}", e.getMessage(), previous.secretFile());
                    next = next.withSecretFile(previous.secretFile());
                }
            }
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
            socket = UdpHeartbeats.bind(next.listen(), guard, this::received);
            LOG.info("failure detector now on {}", socket);
        } catch (IOException e) {
            LOG.error("{}; keeping {}:{}", e.getMessage(), previous.listenAddress(), previous.listenPort());
            try {
                socket = UdpHeartbeats.bind(previous.listen(), guard, this::received);
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
    public String nodeId() {
        return settings.nodeId();
    }

    @Override
    public Monitor monitor(String peerId, InetSocketAddress heartbeatAddress, Listener listener) {
        Objects.requireNonNull(listener, "listener");
        if (peerId == null || peerId.isBlank()) {
            throw new IllegalArgumentException("a monitored peer needs a node id");
        }
        PeerMonitor m = new PeerMonitor(monitorNumbers.incrementAndGet(), peerId.strip(), heartbeatAddress, listener,
                new PhiAccrual(PhiAccrual.Parameters.of(settings), System::nanoTime));
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("the failure detector is closed");
            }
            monitors.add(m);
        }
        if (heartbeatAddress == null) {
            LOG.info("monitoring peer {}, its address to be learned from its heartbeats", m.peerId);
        } else {
            LOG.info("monitoring peer {} at {}", m.peerId, heartbeatAddress);
        }
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

    /** Heartbeats ignored since the detector started because they were not authenticated, stale or replayed. */
    public long rejectedHeartbeats() {
        return guard.rejected();
    }

    /** Whether heartbeats are authenticated (a secret file is configured). */
    public boolean authenticated() {
        return guard.key() != null;
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
                        .toBytes(guard.key());
                Set<InetSocketAddress> done = new HashSet<>();
                for (PeerMonitor m : monitors) {
                    InetSocketAddress to = m.target();
                    if (to != null && done.add(to)) {
                        out.send(datagram, to);
                    }
                }
            }
            if (stalledJustNow(s.intervalMs())) {
                return;
            }
            for (PeerMonitor m : monitors) {
                m.check(s.threshold());
            }
        } catch (RuntimeException e) {
            // never let an exception end the periodic task
            LOG.warn("failure detector tick failed", e);
        }
    }

    /**
     * Whether this node itself stalled a moment ago (a garbage collection, a host too busy even for the real-time
     * heartbeat threads): the tick comes late, and the peers' heartbeats that arrived meanwhile still wait in the
     * socket for the receiving thread, which stalled too. Their silence is then this node's own, so phi is not judged
     * until two intervals after the stall, when the receiver has caught up. Runs on the scheduling thread only.
     */
    private boolean stalledJustNow(long intervalMs) {
        long now = System.nanoTime();
        long interval = TimeUnit.MILLISECONDS.toNanos(intervalMs);
        long late = lastTickNanos == 0 ? 0 : now - lastTickNanos;
        lastTickNanos = now;
        if (late > Math.max(3 * interval, LOCAL_STALL_NANOS)) {
            localStalls.incrementAndGet();
            judgeAgainAtNanos = now + 2 * interval;
            LOG.debug("failure detector: this node stalled for {} ms; judging its peers again in {} ms",
                    TimeUnit.NANOSECONDS.toMillis(late), 2 * intervalMs);
        }
        return now - judgeAgainAtNanos < 0;
    }

    /** How many times this node itself stalled long enough that judging its peers was put off. */
    public long localStalls() {
        return localStalls.get();
    }

    private void received(Heartbeat heartbeat, InetSocketAddress from) {
        boolean matched = false;
        for (PeerMonitor m : monitors) {
            if (m.peerId.equals(heartbeat.nodeId())) {
                m.heartbeat(heartbeat, from);
                matched = true;
            }
        }
        if (!matched) {
            // a peer whose node id is not the one it was monitored under, known by its configured address
            for (PeerMonitor m : monitors) {
                if (m.configured != null && from.equals(m.target())) {
                    m.heartbeat(heartbeat, from);
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

        final long number;
        final String peerId;
        /** Where heartbeats go as the caller said, or null: learned from the peer's heartbeats. */
        final InetSocketAddress configured;
        final Listener listener;
        final PhiAccrual accrual;
        /** The configured address resolved, or the learned one; null while neither is known. */
        private volatile InetSocketAddress resolved;
        private volatile boolean suspected;
        private volatile boolean closed;
        private volatile long lastSequence = -1;
        private volatile long lastHeartbeatMillis;
        private final AtomicLong suspicions = new AtomicLong();

        PeerMonitor(long number, String peerId, InetSocketAddress address, Listener listener, PhiAccrual accrual) {
            this.number = number;
            this.peerId = peerId;
            this.configured = address;
            this.listener = listener;
            this.accrual = accrual;
            this.resolved = address == null || address.isUnresolved() ? null : address;
        }

        /**
         * Where heartbeats go: a configured unresolved host name is looked up again until it resolves; a learned
         * address is null until the peer's first heartbeat.
         */
        InetSocketAddress target() {
            InetSocketAddress r = resolved;
            if (r == null && configured != null) {
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

        /** Runs on the receiving thread only. */
        void heartbeat(Heartbeat heartbeat, InetSocketAddress from) {
            accrual.heartbeat();
            lastSequence = heartbeat.sequence();
            lastHeartbeatMillis = System.currentTimeMillis();
            if (configured == null && !from.equals(resolved)) {
                InetSocketAddress before = resolved;
                resolved = from;
                if (before == null) {
                    LOG.info("peer {}: heartbeat address learned, {}", peerId, address(from));
                } else {
                    LOG.info("peer {}: heartbeats now come from {} instead of {}, following", peerId, address(from),
                            address(before));
                }
            }
        }

        /** Runs on the scheduling thread only. */
        void check(double threshold) {
            if (closed) {
                return;
            }
            double phi = accrual.phi();
            if (!suspected && phi >= threshold) {
                suspected = true;
                suspicions.incrementAndGet();
                LOG.warn("peer {} at {} suspected: phi {} after {} ms without a heartbeat or ACK", peerId,
                        where(), String.format("%.1f", phi), String.format("%.0f", accrual.silenceMillis()));
                try {
                    listener.suspected(peerId, phi);
                } catch (RuntimeException e) {
                    LOG.warn("failure detector listener failed on suspicion of {}", peerId, e);
                }
            } else if (suspected && phi < threshold) {
                suspected = false;
                LOG.info("peer {} at {} recovered: phi {}", peerId, where(), String.format("%.1f", phi));
                try {
                    listener.recovered(peerId);
                } catch (RuntimeException e) {
                    LOG.warn("failure detector listener failed on recovery of {}", peerId, e);
                }
            }
        }

        /** The address for people: configured as given, learned, or not known yet. */
        private String where() {
            if (configured != null) {
                return address(configured);
            }
            InetSocketAddress r = resolved;
            return r == null ? "(address not learned yet)" : address(r) + " (learned)";
        }

        PeerStatus status() {
            InetSocketAddress learned = resolved;
            String address = configured != null ? address(configured) : learned == null ? "" : address(learned);
            return new PeerStatus(number, peerId, address, configured == null, accrual.phi(), suspected(),
                    accrual.heartbeats(), accrual.silenceMillis(), accrual.meanIntervalMillis(),
                    accrual.stdDevMillis(), suspicions.get(), lastHeartbeatMillis);
        }

        @Override
        public double phi() {
            return accrual.phi();
        }

        /** Suspected at the last evaluation and not heard from since (phi is still at or above the threshold). */
        @Override
        public boolean suspected() {
            return suspected && accrual.phi() >= settings.threshold();
        }

        @Override
        public void alive() {
            accrual.alive();
        }

        @Override
        public double silenceMillis() {
            return accrual.silenceMillis();
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                monitors.remove(this);
                LOG.info("no longer monitoring peer {} at {}", peerId, where());
            }
        }

        @Override
        public String toString() {
            return "peer " + peerId + " at " + where() + " (phi " + String.format("%.2f", accrual.phi())
                    + ", last heartbeat #" + lastSequence + ")";
        }
    }

    /** {@code host:port} as given (a host name stays a name), {@code [v6]:port} for an IPv6 literal. */
    private static String address(InetSocketAddress a) {
        String host = a.getHostString();
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + a.getPort() : host + ":" + a.getPort();
    }
}
