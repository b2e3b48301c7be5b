package io.romulus.engine.internal;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.Map;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.scaleout.ScalePair;
import io.romulus.detector.internal.DetectorSettings;
import io.romulus.detector.internal.UdpFailureDetector;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;
import io.romulus.qemu.internal.QemuHypervisor;
import io.romulus.qemu.internal.QemuSettings;
import io.romulus.scaleout.internal.HaproxyBalancer;
import io.romulus.scaleout.internal.ScaleOutController;
import io.romulus.scaleout.internal.ScaleOutSettings;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.SocketTuning;
import io.romulus.transport.mina.internal.TransportSettings;
import io.romulus.witness.zookeeper.internal.ZooKeeperWitness;
import io.romulus.witness.zookeeper.internal.ZooKeeperWitnessSettings;

/**
 * One Romulus node as a process of its own, for fault injection: a test starts it inside a host's network namespace
 * ({@code ip netns exec}), so that it can be killed, frozen and cut off like a machine. It runs what a Karaf node runs
 * (engine with the default settings, MINA stream, QEMU binding, NFQUEUE output commit, UDP failure detector and, if
 * given, the ZooKeeper witness) without OSGi, and takes commands on stdin, one per line:
 *
 * <pre>
 * protect DOMAIN PEER_HOST:PORT INTERVAL_MS key=value,...   -&gt; "ok STATE" or "error MESSAGE"
 * status                                                   -&gt; "status DOMAIN ROLE STATE EPOCH | DETAIL"... "end"
 * failover DOMAIN                                          -&gt; "ok STATE" or "error MESSAGE"
 * detector                                                 -&gt; "peer ID heartbeats=N suspicions=N ..."... "end"
 * scale DOMAIN PAIRS                                       -&gt; "pair ..."... "ok N" or "error MESSAGE"
 * pairs                                                    -&gt; "pair ..."... "end"
 * </pre>
 *
 * <p>Scale-out runs when the system property {@value #SCALEOUT_API} names HAProxy's runtime API; {@value
 * #SCALEOUT_READ_ONLY}, {@value #SCALEOUT_BACKUPS} and {@value #SCALEOUT_DRAIN_MS} set its {@code read.only},
 * {@code pair.backups} and {@code drain.timeout.ms}; the rest is the default configuration.
 *
 * Alarms are printed as they are raised: {@code alarm KIND DOMAIN MESSAGE}. Logs go to stderr.
 *
 * <p>Arguments: {@code NODE_ID HOST_IP RUN_DIR SECRET_FILE [ZOOKEEPER_CONNECT]}.
 */
public final class NodeMain {

    static final String SCALEOUT_API = "romulus.scaleout.api";
    /** The witness's ZooKeeper session timeout in milliseconds, when not the default. */
    static final String WITNESS_SESSION_MS = "romulus.witness.session.ms";
    /** {@code adaptive} or {@code fixed}: the engine's interval.mode; unset, its default. */
    static final String INTERVAL_MODE = "romulus.interval.mode";
    /** "off": the stream's sockets keep the kernel's TCP options (the degraded-link benchmark's comparison). */
    static final String STREAM_TUNING = "romulus.stream.tuning";
    static final String SCALEOUT_READ_ONLY = "romulus.scaleout.readonly";
    static final String SCALEOUT_BACKUPS = "romulus.scaleout.backups";
    static final String SCALEOUT_DRAIN_MS = "romulus.scaleout.drain.ms";

    private NodeMain() {
    }

    public static void main(String[] args) throws Exception {
        String node = args[0];
        String ip = args[1];
        Path run = Path.of(args[2]);
        Path secret = Path.of(args[3]);
        String zookeeper = args.length > 4 ? args[4] : "";

        QemuSettings q = QemuPair.settings(run, "");
        // the node runs inside its host's namespace: QEMU starts there too, and the guest's tap joins br0
        QemuHypervisor qemu = new QemuHypervisor(new QemuSettings(q.qemuBinary(), q.accel(), q.runDir(), q.kernel(),
                q.initrd(), q.preloadLibrary(), q.dirtyTracker(), "", "br0", q.qmpTimeoutMs()));
        MinaCheckpointTransport stream = MinaCheckpointTransport.create(TransportSettings.defaults()
                .withSecretFile(secret).withListen(ip, 7480).withNodeId(node),
                "off".equals(System.getProperty(STREAM_TUNING)) ? SocketTuning.none() : SocketTuning.defaults());
        UdpFailureDetector detector = new UdpFailureDetector(DetectorSettings.defaults(node).withListen(ip, 7490)
                .withSecretFile(secret));
        ZooKeeperWitness witness = zookeeper.isEmpty() ? null
                : new ZooKeeperWitness(witnessSettings(zookeeper));
        EngineSettings settings = EngineSettings.defaults(node);
        if (System.getProperty(INTERVAL_MODE) != null) {
            EngineSettings.IntervalPolicy p = settings.intervalPolicy();
            settings = settings.withIntervalPolicy(new EngineSettings.IntervalPolicy(
                    EngineSettings.IntervalPolicy.parseMode(System.getProperty(INTERVAL_MODE)), p.minMs(), p.maxMs()));
        }
        Engine engine = new Engine(settings);
        engine.addHypervisor(qemu);
        engine.addOutputBufferProvider(new NfqueueProvider(NfqueueSettings.defaults(), LinuxNetlink.load()), 0);
        engine.setTransport(stream);
        engine.setDetector(detector);
        if (witness != null) {
            engine.setWitness(witness);
        }
        engine.addAlarmListener(a -> say("alarm " + a.kind() + " " + a.domain() + " " + a.message()));
        ScaleOutController scaleOut = null;
        if (System.getProperty(SCALEOUT_API) != null) {
            String api = System.getProperty(SCALEOUT_API);
            List<InetSocketAddress> backups = new ArrayList<>();
            for (String b : System.getProperty(SCALEOUT_BACKUPS, "").split(",")) {
                if (!b.isBlank()) {
                    backups.add(ProtectRequest.parsePeer(b.strip()));
                }
            }
            ScaleOutSettings s = ScaleOutSettings.defaults(Set.copyOf(Arrays.stream(System.getProperty(
                    SCALEOUT_READ_ONLY, "").split(",")).filter(d -> !d.isBlank()).toList()), api).withBackups(backups)
                    .withDrain(Duration.ofMillis(Long.getLong(SCALEOUT_DRAIN_MS, 10_000)));
            scaleOut = new ScaleOutController(s, engine, new HaproxyBalancer(api));
            engine.addAlarmListener(scaleOut::onAlarm);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            engine.shutdown();
            detector.close();
            stream.close();
            if (witness != null) {
                witness.close();
            }
            qemu.destroyAll();
        }));
        say("ready " + node);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.strip().split(" ");
            try {
                switch (w[0]) {
                    case "protect" -> {
                        Map<String, String> options = new LinkedHashMap<>();
                        for (String kv : w[4].split(",")) {
                            options.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
                        }
                        ProtectionStatus s = engine.protect(new ProtectRequest(DomainId.parse(w[1]),
                                ProtectRequest.parsePeer(w[2]), Integer.parseInt(w[3]), options));
                        say("ok " + s.state());
                    }
                    case "failover" -> say("ok " + engine.failover(DomainId.parse(w[1])).state());
                    case "switchover" -> say("ok " + engine.switchover(DomainId.parse(w[1])));
                    case "status" -> {
                        StringBuilder b = new StringBuilder();
                        for (ProtectionStatus s : engine.status()) {
                            b.append("status ").append(s.domain()).append(' ').append(s.role()).append(' ')
                                    .append(s.state()).append(' ').append(s.epoch()).append(" | ").append(s.detail())
                                    .append('\n');
                        }
                        say(b + "end");
                    }
                    case "detector" -> {
                        StringBuilder b = new StringBuilder();
                        for (UdpFailureDetector.PeerStatus p : detector.peers()) {
                            b.append(String.format("peer %s heartbeats=%d suspicions=%d mean=%.1f std=%.1f phi=%.2f "
                                    + "local-stalls=%d%n", p.peerId(), p.heartbeats(), p.suspicions(),
                                    p.meanIntervalMillis(), p.stdDevMillis(), p.phi(), detector.localStalls()));
                        }
                        say(b + "end");
                    }
                    case "scale" -> {
                        if (scaleOut == null) {
                            throw new IllegalStateException("no scale-out: " + SCALEOUT_API + " is not set");
                        }
                        List<ScalePair> pairs = scaleOut.scale(DomainId.parse(w[1]), Integer.parseInt(w[2]));
                        say(pairLines(pairs) + "ok " + pairs.size());
                    }
                    case "pairs" -> {
                        if (scaleOut == null) {
                            throw new IllegalStateException("no scale-out: " + SCALEOUT_API + " is not set");
                        }
                        say(pairLines(scaleOut.pairs()) + "end");
                    }
                    default -> say("error unknown command " + w[0]);
                }
            } catch (Exception e) {
                say("error " + e.getMessage());
            }
        }
        System.exit(0);
    }

    private static String pairLines(List<ScalePair> pairs) {
        StringBuilder b = new StringBuilder();
        for (ScalePair p : pairs) {
            b.append("pair ").append(p.pair()).append(' ').append(p.domain()).append(' ').append(p.server())
                    .append(' ').append(p.address()).append(' ').append(p.balancer()).append(" | ")
                    .append(p.protection()).append('\n');
        }
        return b.toString();
    }

    private static synchronized void say(String text) {
        System.out.println(text);
        System.out.flush();
    }

    private static ZooKeeperWitnessSettings witnessSettings(String zookeeper) {
        ZooKeeperWitnessSettings s = ZooKeeperWitnessSettings.defaults(zookeeper);
        Integer session = Integer.getInteger(WITNESS_SESSION_MS);
        return session == null ? s : s.withTimeouts(session, s.connectionTimeoutMs(), s.operationTimeoutMs());
    }
}
