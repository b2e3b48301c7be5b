package io.romulus.api.management;

import javax.management.MBeanException;
import javax.management.openmbean.TabularData;

/**
 * {@code io.romulus:type=NetBuffer,name=outputs}: output commit on this node, one row per held guest interface.
 */
public interface NetBufferMBean {

    /**
     * One row per held interface, {@code key} = domain and interface, {@code value} = one line: the implementation,
     * packets and bytes queued, packets and bytes released, packets dropped, epochs outstanding.
     */
    TabularData getBuffers() throws MBeanException;

    /** The implementations holding output now, for example {@code nfqueue}, or empty. */
    String[] getImplementations();

    /** Sealed epochs whose output is still held, over all interfaces. */
    long getEpochsOutstanding();
}
