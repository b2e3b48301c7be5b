package io.romulus.engine.internal.management;

import java.util.List;
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

import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.management.NetBufferMBean;
import io.romulus.api.netbuf.OutputBufferStats;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** {@code io.romulus:type=NetBuffer,name=outputs}: a thin adapter over {@link ReplicationEngine#outputs()}. */
@Component(service = {NetBufferMBean.class, javax.management.DynamicMBean.class},
        property = "jmx.objectname=io.romulus:type=NetBuffer,name=outputs")
public class NetBufferMBeanImpl extends StandardMBean implements NetBufferMBean {

    /**
     * A held interface is a row {@code key, value} of strings, the shape of an MXBean map: Jolokia makes the table a
     * JSON object and Hawtio shows one {@code key=value} line per interface (a row of more items shows there as
     * {@code [object Object]}).
     */
    private static final String[] ITEMS = {"key", "value"};
    private static final OpenType<?>[] TYPES = {SimpleType.STRING, SimpleType.STRING};

    private final ReplicationEngine engine;
    private final TabularType type;

    @Activate
    public NetBufferMBeanImpl(@Reference ReplicationEngine engine) throws NotCompliantMBeanException,
            OpenDataException {
        super(NetBufferMBean.class);
        this.engine = engine;
        CompositeType row = new CompositeType("OutputBuffer", "One held guest interface", ITEMS,
                new String[] {"domain and interface", "implementation: packets and bytes queued, released, dropped; "
                    + "epochs outstanding"}, TYPES);
        this.type = new TabularType("OutputBuffers", "Held guest interfaces on this node", row, new String[] {"key"});
    }

    /**
     * {@code sim:demo eth0} = {@code nfqueue: 2 packets (180 bytes) queued, 5120 packets (460800 bytes) released,
     * 0 dropped, 1 epochs outstanding}.
     */
    @Override
    public TabularData getBuffers() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(type);
            for (OutputStatus o : engine.outputs()) {
                OutputBufferStats s = o.stats();
                String value = String.format(Locale.ROOT, "%s: %d packets (%d bytes) queued, %d packets (%d bytes) "
                        + "released, %d dropped, %d epochs outstanding", s.implementation(), s.packetsQueued(),
                        s.bytesQueued(), s.packetsReleased(), s.bytesReleased(), s.packetsDropped(),
                        s.epochsOutstanding());
                table.put(new CompositeDataSupport(type.getRowType(), ITEMS, new Object[] {o.domain() + " "
                    + o.interfaceName(), value}));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "listing the output buffers failed: " + e.getMessage());
        }
    }

    @Override
    public String[] getImplementations() {
        List<String> names = engine.outputs().stream().map(o -> o.stats().implementation()).distinct().sorted()
                .toList();
        return names.toArray(new String[0]);
    }

    @Override
    public long getEpochsOutstanding() {
        return engine.outputs().stream().mapToLong(o -> o.stats().epochsOutstanding()).sum();
    }
}
