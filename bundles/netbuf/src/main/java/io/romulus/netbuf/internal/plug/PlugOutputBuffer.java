package io.romulus.netbuf.internal.plug;

import java.util.ArrayDeque;
import java.util.Deque;

import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferStats;
import io.romulus.netbuf.internal.BufferHandle;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.Rtnetlink;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Output commit with the plug qdisc: epochs map to the qdisc's buffered regions, driven by one rtnetlink request
 * each (no fork).
 *
 * <p>sch_plug knows only two regions: the <em>current</em> one (packets since the last {@code TCQ_PLUG_BUFFER})
 * and <em>one</em> sealed one ({@code pkts_last_epoch}) that {@code TCQ_PLUG_RELEASE_ONE} lets out. A second
 * {@code TCQ_PLUG_BUFFER} before that release would overwrite the sealed region's packet count, and a later
 * {@code RELEASE_ONE} would then let out packets of an epoch not yet acknowledged. So a boundary is drawn in the
 * kernel only while its sealed slot is empty; an epoch sealed while the slot is taken stays in the current region,
 * and the region is tagged with the newest epoch any of its packets can belong to. It is released once that epoch is
 * released: later than strictly needed when the engine pipelines epochs, never earlier (invariant I1). When each
 * epoch is released before the next is sealed, this is exactly Remus: one {@code BUFFER} per seal, one
 * {@code RELEASE_ONE} per release.
 *
 * <p>A request the kernel refuses leaves output held (a failed {@code BUFFER} just keeps the region open, a failed
 * release keeps it closed); it is logged, never thrown, as the {@link OutputBuffer} methods have no checked errors.
 *
 * <p>{@link #detach()} forgets the epoch numbers but not the regions: pass-through ends (the qdisc is plugged
 * again), and the kernel's sealed region, if any, is assigned at {@link #adopt()} to the first epoch sealed next, as
 * is the open region; the kernel is not asked anything, so nothing held moves. {@link #leave()} (the provider's
 * bundle stops) leaves the qdisc as it is, plugged, holding what it holds.
 */
final class PlugOutputBuffer implements BufferHandle.Hold {

    /** What the buffer asks of the kernel. */
    interface Kernel {
        /** RTM_NEWQDISC (change) of the plug qdisc with {@code tc_plug_qopt.action}. */
        void plug(int action) throws NetlinkException;

        /** Replaces the plug qdisc with a new, empty, plugged one: what it held is dropped. */
        void replaceEmpty() throws NetlinkException;

        /** Removes the redirect, the qdiscs and the IFB: the interface is left as it was found. */
        void remove();

        /** Stops driving the plug qdisc but leaves everything installed, plugged, as it is. */
        void leave();
    }

    private static final Logger LOG = LoggerFactory.getLogger(PlugOutputBuffer.class);
    private static final long NONE = Long.MIN_VALUE;

    private final String interfaceName;
    private final Kernel kernel;
    private final Runnable onClose;
    /** Epochs sealed and not yet released, oldest first. */
    private final Deque<Long> sealed = new ArrayDeque<>();
    /** The epoch the kernel's sealed region ends in, or NONE when that slot is empty. */
    private long kernelSealed = NONE;
    /** The current kernel region holds packets of sealed epochs (a boundary is owed). */
    private boolean boundaryOwed;
    private long lastSealed = NONE;
    private boolean passing;
    private boolean closed;
    /** Detached: the kernel's sealed region (if any) belongs to the first epoch sealed after adoption. */
    private boolean detached;
    private boolean sealedRegionUnassigned;
    private long regionsReleased;
    private long discards;

    PlugOutputBuffer(String interfaceName, Kernel kernel, Runnable onClose) {
        this.interfaceName = interfaceName;
        this.kernel = kernel;
        this.onClose = onClose;
    }

    @Override
    public String interfaceName() {
        return interfaceName;
    }

    @Override
    public synchronized void seal(long epoch) {
        if (closed) {
            return;
        }
        if (lastSealed != NONE && epoch <= lastSealed) {
            throw new IllegalArgumentException("epoch " + epoch + " sealed after epoch " + lastSealed
                    + " of " + interfaceName + ": epochs are sealed in increasing order");
        }
        lastSealed = epoch;
        if (passing) {
            return;
        }
        if (sealedRegionUnassigned) {
            kernelSealed = epoch; // the region sealed before the detach goes with this epoch
            sealedRegionUnassigned = false;
        }
        sealed.addLast(epoch);
        if (kernelSealed == NONE) {
            drawBoundary(epoch);
        } else {
            boundaryOwed = true;
            LOG.trace("{}: epoch {} sealed while epoch {} is still plugged; it shares the open region", interfaceName,
                    epoch, kernelSealed);
        }
    }

    @Override
    public synchronized void release(long epoch) {
        if (closed || passing) {
            return;
        }
        while (!sealed.isEmpty() && sealed.peekFirst() <= epoch) {
            sealed.removeFirst();
        }
        if (kernelSealed != NONE && !sealedRegionUnassigned && kernelSealed <= epoch) {
            try {
                kernel.plug(Rtnetlink.TCQ_PLUG_RELEASE_ONE);
            } catch (NetlinkException e) {
                LOG.error("{}: cannot release the output of epoch {}; it stays held: {}", interfaceName, kernelSealed,
                        e.getMessage());
                return;
            }
            LOG.trace("{}: released the region of epoch {}", interfaceName, kernelSealed);
            kernelSealed = NONE;
            regionsReleased++;
        }
        if (kernelSealed == NONE && boundaryOwed) {
            // the open region holds sealed epochs and the start of the next one, which is not sealed yet
            drawBoundary(lastSealed + 1);
        }
    }

    private void drawBoundary(long tag) {
        try {
            kernel.plug(Rtnetlink.TCQ_PLUG_BUFFER);
            kernelSealed = tag;
            boundaryOwed = false;
        } catch (NetlinkException e) {
            boundaryOwed = true;
            LOG.error("{}: cannot start a new buffered region after epoch {}; its output stays held with the next "
                    + "epoch's: {}", interfaceName, lastSealed, e.getMessage());
        }
    }

    /**
     * sch_plug cannot drop what it holds, so the plug qdisc is replaced (in one request) by a new, empty, plugged
     * one; the kernel frees the old one's queue. When passing through, the new one is unplugged again.
     */
    @Override
    public synchronized void discard() {
        if (closed) {
            return;
        }
        try {
            kernel.replaceEmpty();
        } catch (NetlinkException e) {
            LOG.error("{}: cannot drop the held output (it stays held until released): {}", interfaceName,
                    e.getMessage());
            return;
        }
        discards++;
        sealed.clear();
        kernelSealed = NONE;
        sealedRegionUnassigned = false;
        boundaryOwed = false;
        if (passing) {
            try {
                kernel.plug(Rtnetlink.TCQ_PLUG_RELEASE_INDEFINITE);
            } catch (NetlinkException e) {
                LOG.error("{}: cannot pass output through after a discard; it is held: {}", interfaceName,
                        e.getMessage());
                passing = false;
            }
        }
        LOG.debug("{}: held output discarded", interfaceName);
    }

    @Override
    public synchronized void passThrough() {
        if (closed || passing) {
            return;
        }
        try {
            kernel.plug(Rtnetlink.TCQ_PLUG_RELEASE_INDEFINITE);
        } catch (NetlinkException e) {
            LOG.error("{}: cannot pass output through; it stays held: {}", interfaceName, e.getMessage());
            return;
        }
        passing = true;
        sealed.clear();
        kernelSealed = NONE;
        sealedRegionUnassigned = false;
        boundaryOwed = false;
        LOG.info("{}: output passes through unheld", interfaceName);
    }

    @Override
    public synchronized void resumeBuffering() {
        if (closed || !passing) {
            return;
        }
        try {
            // after RELEASE_INDEFINITE the kernel counted nothing: this plugs with an empty sealed region
            kernel.plug(Rtnetlink.TCQ_PLUG_BUFFER);
        } catch (NetlinkException e) {
            LOG.error("{}: cannot hold output again; it still passes through: {}", interfaceName, e.getMessage());
            return;
        }
        passing = false;
        LOG.info("{}: output is held again", interfaceName);
    }

    /**
     * The engine lets go: output stays held (pass-through ends), and the epochs sealed so far are forgotten; what
     * they and the open region hold goes with the first epoch sealed after {@link #adopt()}.
     */
    @Override
    public synchronized void detach() {
        if (closed || detached) {
            return;
        }
        if (passing) {
            try {
                kernel.plug(Rtnetlink.TCQ_PLUG_BUFFER);
                passing = false;
            } catch (NetlinkException e) {
                LOG.error("{}: cannot hold output again at detach; it still passes through: {}", interfaceName,
                        e.getMessage());
            }
        }
        sealed.clear();
        sealedRegionUnassigned = kernelSealed != NONE;
        detached = true;
        LOG.info("{}: detached; output stays held for the next attach", interfaceName);
    }

    @Override
    public synchronized boolean detached() {
        return detached && !closed;
    }

    @Override
    public synchronized void adopt() {
        detached = false;
        lastSealed = NONE;
        LOG.info("{}: adopted", interfaceName);
    }

    /**
     * The provider goes away (its bundle is stopped or updated): the qdisc stays as it is, holding, for a new
     * provider to adopt; nothing is released.
     */
    void leave() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            kernel.leave();
        } finally {
            onClose.run();
        }
        LOG.info("{}: left in place, plugged, for the next provider", interfaceName);
    }

    /**
     * Epochs outstanding are exact. Packet and byte counters are not read back from the qdisc and stay 0; the
     * drop counter counts discards.
     */
    @Override
    public synchronized OutputBufferStats stats() {
        return new OutputBufferStats(PlugProvider.NAME, 0, 0, 0, 0, discards, sealed.size());
    }

    /** Sealed regions the kernel was told to release. */
    synchronized long regionsReleased() {
        return regionsReleased;
    }

    synchronized boolean passingThrough() {
        return passing;
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            kernel.remove();
        } finally {
            onClose.run();
        }
    }

    @Override
    public String toString() {
        return "plug output buffer of " + interfaceName;
    }
}
