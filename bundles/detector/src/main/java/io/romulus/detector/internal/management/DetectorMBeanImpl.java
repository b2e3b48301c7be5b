package io.romulus.detector.internal.management;

import java.net.InetSocketAddress;
import java.util.Locale;

import javax.management.MBeanException;
import javax.management.NotCompliantMBeanException;
import javax.management.StandardMBean;
import javax.management.openmbean.CompositeDataSupport;
import javax.management.openmbean.CompositeType;
import javax.management.openmbean.OpenDataException;
import javax.management.openmbean.OpenType;
import javax.management.openmbean.SimpleType;
import javax.management.openmbean.TabularData;
import javax.management.openmbean.TabularDataSupport;
import javax.management.openmbean.TabularType;

import io.romulus.api.management.DetectorMBean;
import io.romulus.detector.internal.UdpFailureDetector;
import io.romulus.detector.internal.UdpFailureDetector.PeerStatus;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * {@code io.romulus:type=Detector,name=detector}: a thin adapter over {@link UdpFailureDetector#peers()} and its
 * settings. Besides the items {@link DetectorMBean#peers()} names, a row says whether the address was learned from
 * the peer's heartbeats, the wall-clock time of its last heartbeat, and the monitor's number (a peer watched twice,
 * for two domains, has two rows).
 */
@Component(service = {DetectorMBean.class, javax.management.DynamicMBean.class},
        property = "jmx.objectname=io.romulus:type=Detector,name=detector")
public class DetectorMBeanImpl extends StandardMBean implements DetectorMBean {

    static final String[] ITEMS = {"monitor", "peer", "address", "learned", "phi", "suspected", "heartbeats",
        "silenceMs", "meanIntervalMs", "stdDevMs", "suspicions", "lastHeartbeatMillis"};
    private static final String[] DESCRIPTIONS = {"the monitor's number on this node", "the peer's node id",
        "where heartbeats are sent, host:port (empty while a learned address is not known yet)",
        "whether the address is learned from the peer's heartbeats", "the suspicion level now",
        "whether the peer is suspected", "heartbeats received from the peer",
        "milliseconds since the peer was last heard from (heartbeat or ACK)",
        "mean heartbeat inter-arrival time in milliseconds",
        "standard deviation of the heartbeat inter-arrival time in milliseconds",
        "times the peer became suspected", "wall-clock time of the last heartbeat, epoch milliseconds (0: none)"};
    private static final OpenType<?>[] TYPES = {SimpleType.LONG, SimpleType.STRING, SimpleType.STRING,
        SimpleType.BOOLEAN, SimpleType.DOUBLE, SimpleType.BOOLEAN, SimpleType.LONG, SimpleType.DOUBLE,
        SimpleType.DOUBLE, SimpleType.DOUBLE, SimpleType.LONG, SimpleType.LONG};

    /** A line of {@link #getPeers()}: the shape of an MXBean map, which Hawtio shows as {@code key: value}. */
    private static final String[] LINE_ITEMS = {"key", "value"};
    private static final OpenType<?>[] LINE_TYPES = {SimpleType.STRING, SimpleType.STRING};

    private final UdpFailureDetector detector;
    private final TabularType type;
    private final TabularType lines;

    @Activate
    public DetectorMBeanImpl(@Reference UdpFailureDetector detector) throws NotCompliantMBeanException,
            OpenDataException {
        super(DetectorMBean.class);
        this.detector = detector;
        CompositeType row = new CompositeType("MonitoredPeer", "One peer this node watches", ITEMS, DESCRIPTIONS,
                TYPES);
        this.type = new TabularType("MonitoredPeers", "Peers this node watches", row,
                new String[] {"peer", "monitor"});
        CompositeType line = new CompositeType("MonitoredPeerLine", "One peer this node watches, in words",
                LINE_ITEMS, new String[] {"the peer and the monitor's number", "what the detector knows of it"},
                LINE_TYPES);
        this.lines = new TabularType("MonitoredPeerLines", "Peers this node watches, in words", line,
                new String[] {"key"});
    }

    @Override
    public String getNodeId() {
        return detector.nodeId();
    }

    @Override
    public String getListenAddress() {
        InetSocketAddress local = detector.localAddress();
        if (local == null) {
            return "";
        }
        String host = local.getAddress().getHostAddress();
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + local.getPort() : host + ":" + local.getPort();
    }

    @Override
    public double getThreshold() {
        return detector.settings().threshold();
    }

    @Override
    public long getIntervalMs() {
        return detector.settings().intervalMs();
    }

    @Override
    public boolean isAuthenticated() {
        return detector.authenticated();
    }

    @Override
    public long getRejectedHeartbeats() {
        return detector.rejectedHeartbeats();
    }

    @Override
    public TabularData getPeers() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(lines);
            for (PeerStatus p : detector.peers()) {
                String value = String.format(Locale.ROOT, "%s%s, phi %.2f, %s, %d heartbeats, silent %.0f ms, "
                        + "inter-arrival mean %.1f ms sd %.1f ms, suspected %d times",
                        p.address().isEmpty() ? "address not learned yet" : p.address(),
                        p.learned() ? " (learned)" : "", p.phi(), p.suspected() ? "SUSPECTED" : "not suspected",
                        p.heartbeats(), p.silenceMillis(), p.meanIntervalMillis(), p.stdDevMillis(), p.suspicions());
                table.put(new CompositeDataSupport(lines.getRowType(), LINE_ITEMS,
                        new Object[] {p.peerId() + " #" + p.monitor(), value}));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "listing the monitored peers failed: " + e.getMessage());
        }
    }

    @Override
    public TabularData peers() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(type);
            for (PeerStatus p : detector.peers()) {
                table.put(new CompositeDataSupport(type.getRowType(), ITEMS, new Object[] {p.monitor(), p.peerId(),
                    p.address(), p.learned(), p.phi(), p.suspected(), p.heartbeats(), p.silenceMillis(),
                    p.meanIntervalMillis(), p.stdDevMillis(), p.suspicions(), p.lastHeartbeatMillis()}));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "listing the monitored peers failed: " + e.getMessage());
        }
    }
}
