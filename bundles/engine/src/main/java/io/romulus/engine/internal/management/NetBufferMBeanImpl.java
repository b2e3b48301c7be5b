package io.romulus.engine.internal.management;

import java.util.List;

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

    private static final String[] ITEMS = {"domain", "interface", "implementation", "packetsQueued", "bytesQueued",
        "packetsReleased", "bytesReleased", "packetsDropped", "epochsOutstanding"};
    private static final OpenType<?>[] TYPES = {SimpleType.STRING, SimpleType.STRING, SimpleType.STRING,
        SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG};

    private final ReplicationEngine engine;
    private final TabularType type;

    @Activate
    public NetBufferMBeanImpl(@Reference ReplicationEngine engine) throws NotCompliantMBeanException,
            OpenDataException {
        super(NetBufferMBean.class);
        this.engine = engine;
        CompositeType row = new CompositeType("OutputBuffer", "One held guest interface", ITEMS, ITEMS, TYPES);
        this.type = new TabularType("OutputBuffers", "Held guest interfaces on this node", row,
                new String[] {"domain", "interface"});
    }

    @Override
    public TabularData getBuffers() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(type);
            for (OutputStatus o : engine.outputs()) {
                OutputBufferStats s = o.stats();
                table.put(new CompositeDataSupport(type.getRowType(), ITEMS, new Object[] {o.domain(),
                    o.interfaceName(), s.implementation(), s.packetsQueued(), s.bytesQueued(), s.packetsReleased(),
                    s.bytesReleased(), s.packetsDropped(), s.epochsOutstanding()}));
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
