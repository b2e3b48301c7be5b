package io.romulus.drbd.internal.management;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

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

import io.romulus.api.management.DrbdMBean;
import io.romulus.drbd.internal.DrbdDiskReplicator;
import io.romulus.drbd.internal.DrbdState;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * {@code io.romulus:type=Drbd,name=drbd}: a thin adapter over {@link DrbdDiskReplicator#unavailableReason()},
 * {@link DrbdDiskReplicator#state()} (the state folded from {@code drbdsetup events2}) and its settings. Where the
 * DRBD kernel module is missing it says {@code Available=false} with the replicator's reason and lists no resource.
 */
@Component(service = {DrbdMBean.class, javax.management.DynamicMBean.class},
        property = "jmx.objectname=io.romulus:type=Drbd,name=drbd")
public class DrbdMBeanImpl extends StandardMBean implements DrbdMBean {

    static final String AVAILABLE = "available";
    static final String[] ITEMS = {"name", "role", "connections", "disks", "resync"};
    private static final String[] DESCRIPTIONS = {"the resource's name", "this node's role: Primary, Secondary",
        "every connection as peer: connection state/peer role", "the local disk state of every volume, volume: state",
        "the progress of every resync that runs, peer/volume: percent done (empty when none runs)"};
    private static final OpenType<?>[] TYPES = {SimpleType.STRING, SimpleType.STRING, SimpleType.STRING,
        SimpleType.STRING, SimpleType.STRING};

    /** A line of {@link #getResources()}: the shape of an MXBean map, which Hawtio shows as {@code key: value}. */
    private static final String[] LINE_ITEMS = {"key", "value"};
    private static final OpenType<?>[] LINE_TYPES = {SimpleType.STRING, SimpleType.STRING};

    private final DrbdDiskReplicator replicator;
    private final TabularType type;
    private final TabularType lines;

    @Activate
    public DrbdMBeanImpl(@Reference DrbdDiskReplicator replicator) throws NotCompliantMBeanException,
            OpenDataException {
        super(DrbdMBean.class);
        this.replicator = replicator;
        CompositeType row = new CompositeType("DrbdResource", "One DRBD resource on this host", ITEMS, DESCRIPTIONS,
                TYPES);
        this.type = new TabularType("DrbdResources", "The DRBD resources on this host", row, new String[] {"name"});
        CompositeType line = new CompositeType("DrbdResourceLine", "One DRBD resource on this host, in words",
                LINE_ITEMS, new String[] {"the resource's name", "its role, connections, disks and resyncs"},
                LINE_TYPES);
        this.lines = new TabularType("DrbdResourceLines", "The DRBD resources on this host, in words", line,
                new String[] {"key"});
    }

    @Override
    public boolean isAvailable() {
        return replicator.unavailableReason().isEmpty();
    }

    @Override
    public String getReason() {
        return replicator.unavailableReason().orElse(AVAILABLE);
    }

    @Override
    public boolean isAllowProtocolCWithoutBarriers() {
        return replicator.settings().allowProtocolCWithoutBarriers();
    }

    @Override
    public TabularData getResources() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(lines);
            for (Object o : resources().values()) {
                javax.management.openmbean.CompositeData r = (javax.management.openmbean.CompositeData) o;
                String value = "role " + r.get("role") + "; connections " + orNone(r.get("connections")) + "; disks "
                        + orNone(r.get("disks")) + "; resyncs " + orNone(r.get("resync"));
                table.put(new CompositeDataSupport(lines.getRowType(), LINE_ITEMS, new Object[] {r.get("name"),
                    value}));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "listing the DRBD resources failed: " + e.getMessage());
        }
    }

    private static String orNone(Object text) {
        return text == null || text.toString().isEmpty() ? "none" : text.toString();
    }

    @Override
    public TabularData resources() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(type);
            Optional<DrbdState> state = replicator.state();
            if (state.isEmpty()) {
                return table;
            }
            for (DrbdState.Resource r : state.get().resources().values()) {
                table.put(new CompositeDataSupport(type.getRowType(), ITEMS, new Object[] {r.name(), known(r.role()),
                    connections(r), disks(r), resyncs(r)}));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "listing the DRBD resources failed: " + e.getMessage());
        }
    }

    private static String connections(DrbdState.Resource r) {
        List<String> out = new ArrayList<>();
        for (DrbdState.Connection c : r.connections().values()) {
            out.add(peer(c) + ": " + known(c.state()) + "/" + known(c.peerRole()));
        }
        return String.join(", ", out);
    }

    private static String disks(DrbdState.Resource r) {
        List<String> out = new ArrayList<>();
        for (DrbdState.Device d : r.devices().values()) {
            out.add(d.volume() + ": " + known(d.disk()));
        }
        return String.join(", ", out);
    }

    private static String resyncs(DrbdState.Resource r) {
        List<String> out = new ArrayList<>();
        for (DrbdState.PeerDevice p : r.peerDevices().values()) {
            Double done = p.donePercent();
            if (done != null) {
                DrbdState.Connection c = r.connections().get(p.connectionKey());
                out.add((c == null ? p.connectionKey() : peer(c)) + "/" + p.volume() + ": "
                        + String.format(Locale.ROOT, "%.2f%%", done));
            }
        }
        return String.join(", ", out);
    }

    private static String peer(DrbdState.Connection c) {
        return c.name() == null ? c.key() : c.name();
    }

    private static String known(String value) {
        return value == null ? "Unknown" : value;
    }
}
