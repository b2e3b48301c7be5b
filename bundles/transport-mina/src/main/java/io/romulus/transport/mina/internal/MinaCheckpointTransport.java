package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import javax.management.NotCompliantMBeanException;
import javax.net.ssl.SSLContext;

import org.apache.mina.core.future.ConnectFuture;
import org.apache.mina.core.session.IoSession;
import org.apache.mina.filter.codec.ProtocolCodecFilter;
import org.apache.mina.transport.socket.nio.NioSocketAcceptor;
import org.apache.mina.transport.socket.nio.NioSocketConnector;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.management.TransportMBean;
import io.romulus.api.node.NodeIdentity;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;
import io.romulus.support.host.HostName;
import io.romulus.transport.mina.internal.management.TransportMBeanImpl;

/**
 * The checkpoint stream over Apache MINA. As a DS component it listens as configured by PID
 * {@value #PID}; without OSGi, {@link #create(TransportSettings)} builds one and {@link #close()} stops it.
 */
@Component(service = CheckpointTransport.class, configurationPid = MinaCheckpointTransport.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL, immediate = true)
@Designate(ocd = TransportConfig.class)
public final class MinaCheckpointTransport implements CheckpointTransport, AutoCloseable {

    public static final String PID = "io.romulus.transport.mina";
    public static final String SECRET_FILE_NAME = "romulus-stream.secret";
    private static final Logger LOG = LoggerFactory.getLogger(MinaCheckpointTransport.class);

    private final TransportSettings settings;
    private final TransportStats stats = new TransportStats();
    private final SharedSecret secret;
    private final NioSocketConnector connector;
    private final NioSocketAcceptor acceptor;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    /** Accepted connections whose peer has not completed the handshake yet. */
    private final Set<BackupConnection> pending = ConcurrentHashMap.newKeySet();
    private final StreamProtection protection;
    private final ScheduledExecutorService handshakeTimer;
    private final ScheduledFuture<?> handshakeSweep;
    private final AtomicLong lastRefusalWarning = new AtomicLong();
    private final SocketTuning socketTuning;
    private final AtomicBoolean socketTuningReported = new AtomicBoolean();
    private volatile ReplicaAcceptor replicaAcceptor;
    private volatile InetSocketAddress listenAddress;
    private ServiceRegistration<TransportMBean> mbeanRegistration;

    /**
     * DS entry point. The node id is the node's one ({@link NodeIdentity}), read here (a change of the transport's
     * configuration starts it again).
     */
    @Activate
    public MinaCheckpointTransport(BundleContext context, TransportConfig config,
            @Reference ConfigurationAdmin configurations) throws IOException {
        this(settingsOf(config, nodeId(configurations)), tuningOf(config));
        try {
            @SuppressWarnings("JdkObsolete") // OSGi's registerService takes a Dictionary
        Dictionary<String, Object> props = new Hashtable<>();
            props.put("jmx.objectname", "io.romulus:type=Transport,name=mina");
            mbeanRegistration = context.registerService(TransportMBean.class, new TransportMBeanImpl(this), props);
        } catch (NotCompliantMBeanException e) {
            close();
            throw new IllegalStateException("TransportMBean is not compliant", e);
        }
    }

    /** Creates and starts a transport without OSGi; {@link #close()} stops it. */
    public static MinaCheckpointTransport create(TransportSettings settings) throws IOException {
        return new MinaCheckpointTransport(settings);
    }

    /** Creates and starts a transport without OSGi whose sockets get {@code tuning}; {@link #close()} stops it. */
    public static MinaCheckpointTransport create(TransportSettings settings, SocketTuning tuning) throws IOException {
        return new MinaCheckpointTransport(settings, tuning);
    }

    MinaCheckpointTransport(TransportSettings settings) throws IOException {
        this(settings, SocketTuning.defaults());
    }

    private MinaCheckpointTransport(TransportSettings settings, SocketTuning tuning) throws IOException {
        this(settings, settings.encryption() ? StreamProtection.ENCRYPTED : StreamProtection.INTEGRITY, tuning);
    }

    /**
     * A transport that proposes {@code protection}; {@link StreamProtection#NONE} only for the benchmark that
     * measures what protection costs (a peer configured otherwise still gets its own protection).
     */
    static MinaCheckpointTransport create(TransportSettings settings, StreamProtection protection)
            throws IOException {
        return new MinaCheckpointTransport(settings, protection, SocketTuning.defaults());
    }

    /**
     * A transport whose listening side serves all its connections on {@code ioProcessors} I/O threads (MINA's
     * default: one more than the CPUs), so that a test can have two connections share one.
     */
    static MinaCheckpointTransport create(TransportSettings settings, int ioProcessors) throws IOException {
        return new MinaCheckpointTransport(settings, settings.encryption() ? StreamProtection.ENCRYPTED
                : StreamProtection.INTEGRITY, SocketTuning.defaults(), ioProcessors);
    }

    private MinaCheckpointTransport(TransportSettings settings, StreamProtection protection, SocketTuning tuning)
            throws IOException {
        this(settings, protection, tuning, 0);
    }

    /** {@code ioProcessors}: the listening side's I/O threads, 0 for MINA's default. */
    private MinaCheckpointTransport(TransportSettings settings, StreamProtection protection, SocketTuning tuning,
            int ioProcessors) throws IOException {
        this.settings = settings;
        this.protection = protection;
        this.socketTuning = tuning;
        if (protection != StreamProtection.NONE) {
            RecordCipher.warmUp();
        }
        this.secret = settings.pskEnabled() ? SharedSecret.loadOrCreate(settings.secretFile()) : null;
        SSLContext tls = settings.tlsEnabled() ? TlsContexts.create(settings) : null;
        MinaRecordCodecFactory codec = new MinaRecordCodecFactory(new RecordCodec(settings.maxRecordBytes()), stats);
        StreamHandler handler = new StreamHandler(this);

        connector = new NioSocketConnector();
        connector.setConnectTimeoutMillis(settings.connectTimeoutMs());
        connector.getSessionConfig().setTcpNoDelay(true);
        if (tls != null) {
            connector.getFilterChain().addLast("ssl", TlsContexts.filter(tls, settings, false));
        }
        connector.getFilterChain().addLast("codec", new ProtocolCodecFilter(codec));
        connector.setHandler(handler);

        if (settings.listenHost() != null) {
            acceptor = ioProcessors > 0 ? new NioSocketAcceptor(ioProcessors) : new NioSocketAcceptor();
            acceptor.setReuseAddress(true);
            // close() closes the sessions itself: unbind must not wait for a sink that is stuck
            acceptor.setCloseOnDeactivation(false);
            acceptor.getSessionConfig().setTcpNoDelay(true);
            if (tls != null) {
                acceptor.getFilterChain().addLast("ssl", TlsContexts.filter(tls, settings, true));
            }
            acceptor.getFilterChain().addLast("codec", new ProtocolCodecFilter(codec));
            acceptor.setHandler(handler);
            try {
                acceptor.bind(new InetSocketAddress(settings.listenHost(), settings.listenPort()));
            } catch (IOException e) {
                connector.dispose();
                acceptor.dispose();
                throw new IOException("cannot listen for checkpoint streams on " + settings.listenHost() + ":"
                        + settings.listenPort() + ": " + e.getMessage(), e);
            }
            listenAddress = acceptor.getLocalAddress();
            handshakeTimer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "romulus-stream-handshakes");
                t.setDaemon(true);
                return t;
            });
            TransportSettings.Limits limits = settings.limits();
            long period = Math.max(20, Math.min(1000, Math.min(limits.handshakeTimeoutMs(),
                    limits.idleTimeoutMs()) / 4));
            handshakeSweep = handshakeTimer.scheduleWithFixedDelay(this::dropSlowHandshakes, period, period,
                    TimeUnit.MILLISECONDS);
        } else {
            acceptor = null;
            handshakeTimer = null;
            handshakeSweep = null;
        }
        if (secret == null && !settings.tlsEnabled()) {
            LOG.warn("Checkpoint stream without pre-shared secret and without TLS: peers are not authenticated and "
                    + "the record keys come from public values, so records are checked against corruption but not "
                    + "protected against anyone on the path; set auth.psk.enabled=true");
        }
        LOG.info("Checkpoint transport started: node {}, listening on {}, TLS {}, pre-shared secret {}",
                settings.nodeId(), listenAddress == null ? "nothing" : listenAddress,
                settings.tlsEnabled() ? "on " + settings.tlsProtocols() + ", peers' certificates must name their node id"
                        : "off", secret != null ? "on (" + settings.secretFile() + ")" : "off");
    }

    /** {@value NodeIdentity#KEY} of {@value NodeIdentity#PID}, else (deprecated, logged) the transport's own. */
    private static String nodeId(ConfigurationAdmin configurations) throws IOException {
        NodeIdentity.Resolved r = NodeIdentity.read(configurations, PID);
        if (!r.warning().isEmpty()) {
            LOG.warn("{}", r.warning());
        }
        return r.nodeId();
    }

    /** The settings of the configuration and the node id (empty: the host name). */
    static TransportSettings settingsOf(TransportConfig c, String node) throws IOException {
        String nodeId = node == null || node.isBlank() ? HostName.orElse("localhost") : node.strip();
        TransportSettings s = new TransportSettings(c.listen_host(), c.listen_port(), nodeId, c.auth_psk_enabled(),
                c.auth_psk_enabled() ? resolveSecretFile(c.auth_secret_file()) : null, c.tls_enabled(),
                path(c.tls_keystore()), c._tls_keystore_password(), path(c.tls_truststore()),
                c._tls_truststore_password(), c.high_watermark_bytes(), c.max_record_bytes(),
                (long) c.delta_cache_mb() * 1024 * 1024, c.connect_timeout_ms(), c.stream_encryption(),
                new TransportSettings.Limits(c.handshake_timeout_ms(), c.idle_timeout_ms(), c.max_connections(),
                        c.max_pending_handshakes(), c.handshake_max_record_bytes(),
                        c.max_pending_handshakes_per_address()),
                TransportSettings.tlsProtocols(c.tls_protocols()));
        return s;
    }

    /** The TCP options of the stream's sockets that the configuration sets. */
    static SocketTuning tuningOf(TransportConfig c) {
        return new SocketTuning(c.tcp_rto_min_ms(), c.tcp_rto_max_ms(), c.tcp_thin_linear_timeouts(),
                c.tcp_congestion());
    }

    /** Resolves {@code ${karaf.etc}} in the configured secret file; a blank value means the default name there. */
    static Path resolveSecretFile(String configured) throws IOException {
        String value = configured == null || configured.isBlank() ? "${karaf.etc}/" + SECRET_FILE_NAME
                : configured.trim();
        if (value.contains("${karaf.etc}")) {
            String etc = System.getProperty("karaf.etc");
            if (etc == null) {
                throw new IOException("auth.secret.file is " + value + " but the system property karaf.etc is not "
                        + "set; configure an absolute path");
            }
            value = value.replace("${karaf.etc}", etc);
        }
        return Path.of(value);
    }

    private static Path path(String value) {
        return value == null || value.isBlank() ? null : Path.of(value.trim());
    }

    @Override
    public CheckpointChannel connect(InetSocketAddress peer, Hello hello, AckListener listener)
            throws CheckpointException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.connectTimeoutMs());
        PrimaryConnection[] holder = new PrimaryConnection[1];
        ConnectFuture future = connector.connect(peer, (IoSession session, ConnectFuture f) -> {
            holder[0] = new PrimaryConnection(this, session, hello, listener);
            session.setAttribute(Connection.KEY, holder[0]);
        });
        if (!future.await(settings.connectTimeoutMs())) {
            future.cancel();
            throw new CheckpointException("connecting to backup " + peer + " timed out after "
                    + settings.connectTimeoutMs() + " ms");
        }
        if (!future.isConnected()) {
            Throwable e = future.getException();
            throw new CheckpointException("cannot connect to backup " + peer + ": "
                    + (e == null ? "cancelled" : e.getMessage()), e);
        }
        long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
        PrimaryConnection channel = holder[0];
        HelloReply reply = channel.handshake(Math.max(left, settings.connectTimeoutMs() / 2));
        LOG.info("Streaming checkpoints of {} to {} (node {}, committed epoch {})", hello.domain(), peer,
                reply.nodeId(), reply.committedEpoch());
        return channel;
    }

    @Override
    public void setAcceptor(ReplicaAcceptor acceptor) {
        this.replicaAcceptor = acceptor;
    }

    @Override
    public InetSocketAddress listenAddress() {
        return listenAddress;
    }

    @Override
    public List<ConnectionInfo> connections() {
        return connections.stream().map(Connection::info).toList();
    }

    public TransportSettings settings() {
        return settings;
    }

    public TransportStats stats() {
        return stats;
    }

    SharedSecret secret() {
        return secret;
    }

    ReplicaAcceptor acceptor() {
        return replicaAcceptor;
    }

    /** What this node proposes for the records after the handshake. */
    StreamProtection protection() {
        return protection;
    }

    /**
     * The connection of a session that has just been accepted, counted as a pending handshake; {@code null} when
     * taking it would exceed {@code max.connections} streams, {@code max.pending.handshakes} connections that have
     * not completed the handshake, or {@code max.pending.handshakes.per.address} of those from the session's address.
     */
    BackupConnection admit(IoSession session) {
        TransportSettings.Limits limits = settings.limits();
        String why = null;
        synchronized (pending) {
            if (acceptor.getManagedSessionCount() > limits.maxConnections()) {
                why = "max.connections=" + limits.maxConnections();
            } else if (pending.size() >= limits.maxPendingHandshakes()) {
                why = "max.pending.handshakes=" + limits.maxPendingHandshakes();
            } else if (pendingFrom(session) >= limits.maxPendingHandshakesPerAddress()) {
                why = "max.pending.handshakes.per.address=" + limits.maxPendingHandshakesPerAddress();
            } else {
                BackupConnection c = new BackupConnection(this, session);
                pending.add(c);
                return c;
            }
        }
        stats.refusedConnections.increment();
        long now = System.nanoTime();
        long last = lastRefusalWarning.get();
        if (now - last > TimeUnit.SECONDS.toNanos(10) && lastRefusalWarning.compareAndSet(last, now)) {
            LOG.warn("Closing checkpoint stream connection from {} on arrival: {} reached (warned at most every 10 s; "
                    + "{} refused so far)", session.getRemoteAddress(), why, stats.refusedConnections());
        } else {
            LOG.debug("Closing checkpoint stream connection from {} on arrival: {} reached",
                    session.getRemoteAddress(), why);
        }
        return null;
    }

    /** How many pending handshakes come from the IP address of {@code session} (at most max.pending.handshakes). */
    private int pendingFrom(IoSession session) {
        InetAddress from = ipOf(session);
        int n = 0;
        for (BackupConnection c : pending) {
            if (from != null && from.equals(ipOf(c.session))) {
                n++;
            }
        }
        return n;
    }

    private static InetAddress ipOf(IoSession session) {
        return session.getRemoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
    }

    void opened(Connection c) {
        connections.add(c);
        tune(c.session);
    }

    /** The socket options of {@link SocketTuning} on a new connection; reported once per transport. */
    private void tune(IoSession session) {
        if (socketTuning.isNone()) {
            return;
        }
        try {
            SocketTuning.Applied applied = socketTuning.apply(session.getLocalAddress(), session.getRemoteAddress());
            if (socketTuningReported.compareAndSet(false, true)) {
                LOG.info("Checkpoint stream sockets for lossy links: {}", applied);
            } else {
                LOG.debug("Checkpoint stream socket {}: {}", session.getRemoteAddress(), applied);
            }
        } catch (IOException e) {
            if (socketTuningReported.compareAndSet(false, true)) {
                LOG.warn("Checkpoint stream sockets keep the kernel's TCP options (recovery from a lost segment may "
                        + "take 200 ms or more): {}", e.getMessage());
            } else {
                LOG.debug("Checkpoint stream socket {} not tuned: {}", session.getRemoteAddress(), e.getMessage());
            }
        }
    }

    /** The peer of {@code c} proved the secret: its connection no longer counts as a pending handshake. */
    void authenticated(BackupConnection c) {
        pending.remove(c);
    }

    void closed(Connection c) {
        connections.remove(c);
        pending.remove(c);
    }

    /** Closes the connections that exceed {@code handshake.timeout.ms} or {@code idle.timeout.ms} in the handshake. */
    private void dropSlowHandshakes() {
        TransportSettings.Limits limits = settings.limits();
        long now = System.currentTimeMillis();
        for (BackupConnection c : pending) {
            long age = now - c.session.getCreationTime();
            long quiet = now - Math.max(c.session.getCreationTime(), c.session.getLastReadTime());
            if (age > limits.handshakeTimeoutMs()) {
                c.handshakeTimedOut("no complete handshake within handshake.timeout.ms=" + limits.handshakeTimeoutMs()
                        + " ms");
            } else if (quiet > limits.idleTimeoutMs()) {
                c.handshakeTimedOut("nothing received for idle.timeout.ms=" + limits.idleTimeoutMs()
                        + " ms during the handshake");
            }
        }
    }

    /**
     * Stops listening, ends every open stream (the primary's with an ERROR, so that its backup keeps the replica; the
     * backup's with GOODBYE) and releases the I/O threads.
     */
    @Deactivate
    @Override
    public void close() {
        if (mbeanRegistration != null) {
            try {
                mbeanRegistration.unregister();
            } catch (IllegalStateException e) {
                LOG.debug("TransportMBean already unregistered");
            }
            mbeanRegistration = null;
        }
        if (acceptor != null) {
            acceptor.unbind();
            handshakeSweep.cancel(false);
            handshakeTimer.shutdownNow();
        }
        for (Connection c : List.copyOf(connections)) {
            if (c instanceof PrimaryConnection p) {
                // an ERROR, not GOODBYE: the transport stopping (a bundle update, a node shutdown) does not end the
                // protection, so the backup keeps its replica and the next stream resumes it
                p.stopPlanned("the checkpoint transport of the primary is stopping");
            } else if (c.session.isConnected() && !c.authenticated()) {
                c.session.closeNow();
            } else if (c.session.isConnected()) {
                c.write(Messages.goodbye());
                if (!c.session.closeOnFlush().awaitUninterruptibly(1000)) {
                    c.session.closeNow();
                }
            }
        }
        boolean stuck = !connections.isEmpty();
        if (stuck) {
            LOG.warn("Checkpoint transport stopping with {} connection(s) whose replica sink does not return; "
                    + "their I/O threads end when it does", connections.size());
        }
        if (acceptor != null) {
            acceptor.dispose(!stuck);
        }
        connector.dispose(!stuck);
        listenAddress = null;
        LOG.info("Checkpoint transport stopped");
    }
}
