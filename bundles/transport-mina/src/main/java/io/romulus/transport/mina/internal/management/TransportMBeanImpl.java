package io.romulus.transport.mina.internal.management;

import java.util.Locale;

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

import io.romulus.api.management.TransportMBean;
import io.romulus.api.transport.CheckpointTransport.ConnectionInfo;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;

/** {@code io.romulus:type=Transport,name=mina}: a thin adapter over {@link MinaCheckpointTransport}. */
public final class TransportMBeanImpl extends StandardMBean implements TransportMBean {

    /**
     * A connection is a row {@code key, value} of strings, the shape of an MXBean map: Jolokia makes the table a JSON
     * object and Hawtio shows one {@code key=value} line per connection (a row of more items shows there as
     * {@code [object Object]}).
     */
    private static final String[] ITEMS = {"key", "value"};
    private static final CompositeType ROW;
    private static final TabularType TABLE;

    static {
        try {
            ROW = new CompositeType("Connection", "An open checkpoint stream", ITEMS,
                    new String[] {"role (primary: this node sends; backup: it receives), domain and peer address",
                        "bytes written, read and waiting in the outgoing queue; the last epoch sent (primary) or "
                            + "acknowledged (backup)"},
                    new OpenType<?>[] {SimpleType.STRING, SimpleType.STRING});
            TABLE = new TabularType("Connections", "Open checkpoint streams", ROW, new String[] {"key"});
        } catch (OpenDataException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final MinaCheckpointTransport transport;

    public TransportMBeanImpl(MinaCheckpointTransport transport) throws NotCompliantMBeanException {
        super(TransportMBean.class);
        this.transport = transport;
    }

    @Override
    public String getListenAddress() {
        return String.valueOf(transport.listenAddress());
    }

    @Override
    public boolean isTlsEnabled() {
        return transport.settings().tlsEnabled();
    }

    @Override
    public boolean isAuthenticationRequired() {
        return transport.settings().pskEnabled() || transport.settings().tlsEnabled();
    }

    @Override
    public long getBytesSent() {
        return transport.stats().bytesSent();
    }

    @Override
    public long getBytesReceived() {
        return transport.stats().bytesReceived();
    }

    @Override
    public long getRecordsSent() {
        return transport.stats().recordsSent();
    }

    @Override
    public long getRecordsReceived() {
        return transport.stats().recordsReceived();
    }

    @Override
    public long getRejectedConnections() {
        return transport.stats().rejectedConnections();
    }

    @Override
    public double getCompressionRatio() {
        return transport.stats().compressionRatio();
    }

    /** {@code primary sim:demo /10.0.0.2:7480} = {@code 81234 bytes out, 512 bytes in, 0 bytes queued, last epoch 6}. */
    @Override
    public TabularData getConnections() {
        TabularDataSupport table = new TabularDataSupport(TABLE);
        for (ConnectionInfo c : transport.connections()) {
            try {
                String value = String.format(Locale.ROOT, "%d bytes out, %d bytes in, %d bytes queued, last epoch %d",
                        c.bytesOut(), c.bytesIn(), c.queuedBytes(), c.lastEpoch());
                table.put(new CompositeDataSupport(ROW, ITEMS, new Object[] {c.role() + " " + c.domain() + " "
                    + c.remote(), value}));
            } catch (OpenDataException e) {
                throw new IllegalStateException(e);
            }
        }
        return table;
    }
}
