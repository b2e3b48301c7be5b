package io.romulus.api.management;

import javax.management.MBeanException;
import javax.management.openmbean.TabularData;

/**
 * {@code io.romulus:type=Drbd,name=drbd}: the DRBD coordinator of this node (the disk replicator of kind
 * {@code drbd}) and the DRBD resources it sees through {@code drbdsetup events2}.
 */
public interface DrbdMBean {

    /** Whether DRBD can be used on this host (kernel module loaded, drbd-utils installed). */
    boolean isAvailable();

    /** Why DRBD cannot be used on this host, or {@code "available"}. */
    String getReason();

    /**
     * One line per DRBD resource, for a JMX console: {@code key} = its name, {@code value} = this node's role, its
     * connections, its disk states and the resyncs that run, in words (Hawtio shows a row of more items as
     * {@code [object Object]}). {@link #resources()} has the same as separate items. Empty while DRBD is unavailable.
     */
    TabularData getResources() throws MBeanException;

    /**
     * One row per DRBD resource: name, this node's role, its connections ({@code "peer: Connected/Secondary"}, joined
     * with {@code ", "}), its local disk states by volume ({@code "0: UpToDate"}), and the resync progress in percent
     * of the resyncs that run ({@code "peer/0: 42.50%"}, empty when none runs). Empty while DRBD is unavailable.
     *
     * @since 3.0
     */
    TabularData resources() throws MBeanException;

    /** Whether protocol C is accepted although upstream DRBD has no checkpoint barriers (unsafe). */
    boolean isAllowProtocolCWithoutBarriers();
}
