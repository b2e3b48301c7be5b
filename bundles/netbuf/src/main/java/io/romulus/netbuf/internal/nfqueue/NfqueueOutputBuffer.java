package io.romulus.netbuf.internal.nfqueue;

import java.io.IOException;
import java.util.ArrayDeque;

import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferStats;
import io.romulus.netbuf.internal.BufferHandle;
import io.romulus.netbuf.internal.netlink.Nfqueue;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Output commit for one guest interface through an NFQUEUE. The kernel holds the guest's packets in the queue; this
 * class keeps the epoch ledger and issues verdicts.
 *
 * <p>Packet ids are assigned by the kernel in queue order and only grow (modulo 2^32). {@link #seal seal(N)} makes the
 * highest id received so far the boundary of epoch N; {@link #release release(N)} sends one
 * {@code NFQNL_MSG_VERDICT_BATCH} with {@code NF_ACCEPT} for the newest boundary of the epochs it releases, which
 * accepts every packet up to it, in queue order. A packet that the kernel queued before {@code seal(N)} but that
 * reached Romulus after it counts for N+1: later, never earlier.
 *
 * <p>Invariant I1: no accept verdict is sent for an id above the boundary of an epoch that was released, and once
 * {@link #discard()} or {@link #close()} decided to drop packets, no accept verdict is sent before that drop verdict
 * went out (the kernel batches by id, so an accept would otherwise let them through). A verdict that cannot be sent
 * leaves its packets held; the next release retries it.
 *
 * <p>{@link #detach()} merges every sealed epoch back into the open region and holds on; {@link #adopt()} (the next
 * attach) then lets the first epoch sealed afterwards take all of it. {@link #abandon()} (the provider's bundle
 * stops) leaves the rule in place and closes the queue. {@link #handOver()} (the provider's bundle is updated)
 * leaves the queue bound and held for the next provider in this process, which {@link #inherit inherits} the ledger.
 */
final class NfqueueOutputBuffer implements BufferHandle.Hold {

    /** Sends verdicts on the queue. */
    interface Verdicts {
        /** {@code verdict} for every held packet whose id is not after {@code upToId}. */
        void batch(int verdict, int upToId) throws IOException;
    }

    /** What lies underneath: the rule that feeds the queue, and the queue itself. */
    interface Attachment {
        /** Stops new packets from being queued and stops receiving (no more {@link #received} calls). */
        void stopIntake();

        /** Unbinds the queue (the kernel drops what it still holds) and releases everything installed. */
        void shutdown();

        /**
         * Stops receiving and closes the queue's socket (the kernel drops what the queue holds) but leaves the rule
         * that feeds the queue: with nobody bound to it, the kernel drops what the guest sends next.
         */
        void abandon();

        /**
         * Stops receiving and lets go of the queue's socket without closing it, for the next provider in this process
         * (the queue stays bound and holds); the socket and the rules, or null when the receiving thread did not stop
         * (then the queue stays bound to this socket, as after {@link #abandon()}).
         */
        NfqueueHandOver.Queue handOver();
    }

    /**
     * What a hold leaves for the next provider: the packet ids seen and decided, a drop still owed, and what is held
     * (every epoch sealed merged into one open region, as at {@link NfqueueOutputBuffer#detach()}).
     */
    record Ledger(boolean receivedAny, int lastReceived, int lastVerdict, boolean dropOwed, int dropUpTo,
            long heldPackets, long heldBytes) {
    }

    private record Sealed(long epoch, int boundary, long packets, long bytes) {
    }

    private static final Logger LOG = LoggerFactory.getLogger(NfqueueOutputBuffer.class);

    private final String interfaceName;
    private final int queue;
    private final Verdicts verdicts;
    private final Attachment attachment;

    private final ArrayDeque<Sealed> sealed = new ArrayDeque<>();
    private long lastSealedEpoch = Long.MIN_VALUE;
    private boolean receivedAny;
    private int lastReceived;
    private int lastVerdict;
    private boolean dropOwed;
    private int dropUpTo;
    private long openPackets;
    private long openBytes;

    private boolean passThrough;
    private boolean passOwed;
    private int passUpTo;
    private long passPackets;
    private long passBytes;
    private boolean closed;
    private boolean detached;

    private long packetsQueued;
    private long bytesQueued;
    private long packetsReleased;
    private long bytesReleased;
    private long packetsDropped;
    private long verdictFailures;

    NfqueueOutputBuffer(String interfaceName, int queue, Verdicts verdicts, Attachment attachment) {
        this.interfaceName = interfaceName;
        this.queue = queue;
        this.verdicts = verdicts;
        this.attachment = attachment;
    }

    /** The NFQUEUE number. */
    int queue() {
        return queue;
    }

    /** Wrap-aware: whether packet id {@code a} comes after {@code b}. */
    static boolean after(int a, int b) {
        return a - b > 0;
    }

    // ---- from the receiving thread ----

    /** A packet arrived in the queue (ids in increasing order). */
    synchronized void received(int id, int bytes) {
        if (receivedAny && !after(id, lastReceived)) {
            LOG.warn("NFQUEUE {} of {}: packet id {} after {}; ids should only grow", queue, interfaceName,
                    Integer.toUnsignedString(id), Integer.toUnsignedString(lastReceived));
        }
        if (!receivedAny && !dropOwed && !passOwed) {
            lastVerdict = id - 1; // ids start wherever the kernel's counter is; nothing before it is ours
        }
        receivedAny = true;
        lastReceived = id;
        if (passThrough && !closed) {
            passOwed = true;
            passUpTo = id;
            passPackets++;
            passBytes += bytes;
            return;
        }
        openPackets++;
        openBytes += bytes;
        packetsQueued++;
        bytesQueued += bytes;
    }

    /** The end of one receive: lets pass-through packets go in one verdict. */
    synchronized void receivedAll() {
        flushPassThrough();
    }

    private void flushPassThrough() {
        if (passOwed && !closed && issue(Nfqueue.NF_ACCEPT, passUpTo)) {
            packetsReleased += passPackets;
            bytesReleased += passBytes;
            passOwed = false;
            passPackets = 0;
            passBytes = 0;
        }
    }

    // ---- OutputBuffer ----

    @Override
    public String interfaceName() {
        return interfaceName;
    }

    @Override
    public synchronized void seal(long epoch) {
        if (epoch <= lastSealedEpoch) {
            throw new IllegalArgumentException("epoch " + epoch + " sealed after epoch " + lastSealedEpoch);
        }
        if (closed) {
            return;
        }
        lastSealedEpoch = epoch;
        sealed.addLast(new Sealed(epoch, lastReceived, openPackets, openBytes));
        openPackets = 0;
        openBytes = 0;
        if (LOG.isTraceEnabled()) {
            LOG.trace("NFQUEUE {}: epoch {} sealed at id {}", queue, epoch, Integer.toUnsignedString(lastReceived));
        }
    }

    @Override
    public synchronized void release(long epoch) {
        if (closed) {
            return;
        }
        int boundary = 0;
        long packets = 0;
        long bytes = 0;
        int count = 0;
        for (Sealed s : sealed) {
            if (s.epoch() > epoch) {
                break;
            }
            boundary = s.boundary();
            packets += s.packets();
            bytes += s.bytes();
            count++;
        }
        if (count == 0) {
            return;
        }
        if (packets > 0 && !issue(Nfqueue.NF_ACCEPT, boundary)) {
            return; // still held; the next release retries
        }
        for (int i = 0; i < count; i++) {
            sealed.removeFirst();
        }
        packetsReleased += packets;
        bytesReleased += bytes;
        if (LOG.isTraceEnabled()) {
            LOG.trace("NFQUEUE {}: released epochs up to {} ({} packets)", queue, epoch, packets);
        }
    }

    @Override
    public synchronized void discard() {
        dropHeld();
    }

    private void dropHeld() {
        for (Sealed s : sealed) {
            packetsDropped += s.packets();
        }
        packetsDropped += openPackets + (passOwed ? passPackets : 0);
        sealed.clear();
        openPackets = 0;
        openBytes = 0;
        passOwed = false;
        passPackets = 0;
        passBytes = 0;
        if (receivedAny && after(lastReceived, lastVerdict)) {
            dropOwed = true;
            dropUpTo = lastReceived;
            sendOwedDrop();
        }
    }

    private boolean sendOwedDrop() {
        if (!dropOwed) {
            return true;
        }
        if (!after(dropUpTo, lastVerdict)) {
            dropOwed = false;
            return true;
        }
        try {
            verdicts.batch(Nfqueue.NF_DROP, dropUpTo);
        } catch (IOException e) {
            verdictFailures++;
            LOG.warn("NFQUEUE {} of {}: cannot drop packets up to id {}; they stay held and no later output is "
                    + "released until the drop went out: {}", queue, interfaceName, Integer.toUnsignedString(dropUpTo),
                    e.getMessage());
            return false;
        }
        lastVerdict = dropUpTo;
        dropOwed = false;
        return true;
    }

    /** Sends a verdict after any owed drop; false (logged) when it could not be sent. */
    private boolean issue(int verdict, int upToId) {
        if (!sendOwedDrop()) {
            return false;
        }
        if (!after(upToId, lastVerdict)) {
            return true; // already decided
        }
        try {
            verdicts.batch(verdict, upToId);
        } catch (IOException e) {
            verdictFailures++;
            LOG.warn("NFQUEUE {} of {}: cannot send verdict {} up to id {}; the packets stay held: {}", queue,
                    interfaceName, verdict == Nfqueue.NF_ACCEPT ? "NF_ACCEPT" : "NF_DROP",
                    Integer.toUnsignedString(upToId), e.getMessage());
            return false;
        }
        lastVerdict = upToId;
        return true;
    }

    @Override
    public synchronized void passThrough() {
        if (closed || passThrough) {
            return;
        }
        passThrough = true;
        long packets = openPackets;
        long bytes = openBytes;
        for (Sealed s : sealed) {
            packets += s.packets();
            bytes += s.bytes();
        }
        sealed.clear();
        openPackets = 0;
        openBytes = 0;
        if (receivedAny && after(lastReceived, lastVerdict)) {
            passOwed = true;
            passUpTo = lastReceived;
            passPackets += packets;
            passBytes += bytes;
            flushPassThrough();
        } else {
            packetsReleased += packets;
            bytesReleased += bytes;
        }
        LOG.info("NFQUEUE {} of {}: output passes through unbuffered", queue, interfaceName);
    }

    @Override
    public synchronized void resumeBuffering() {
        if (closed || !passThrough) {
            return;
        }
        flushPassThrough();
        passThrough = false;
        LOG.info("NFQUEUE {} of {}: output buffered again", queue, interfaceName);
    }

    /**
     * The engine lets go: everything held, sealed or not, stays held and belongs to the open region (the next epoch
     * sealed after {@link #adopt()}); pass-through ends, so later output is held too. What pass-through already let
     * go is accepted first.
     */
    @Override
    public synchronized void detach() {
        if (closed || detached) {
            return;
        }
        flushPassThrough();
        passThrough = false;
        for (Sealed s : sealed) {
            openPackets += s.packets();
            openBytes += s.bytes();
        }
        sealed.clear();
        detached = true;
        LOG.info("NFQUEUE {} of {} detached: {} packets stay held for the next attach", queue, interfaceName,
                openPackets);
    }

    @Override
    public synchronized boolean detached() {
        return detached && !closed;
    }

    @Override
    public synchronized void adopt() {
        detached = false;
        lastSealedEpoch = Long.MIN_VALUE;
        LOG.info("NFQUEUE {} of {} adopted with {} packets held", queue, interfaceName, openPackets);
    }

    /**
     * The provider goes away (its bundle is stopped or updated): no more verdicts; the queue closes, so the kernel
     * drops what it holds, and the rule stays, so the kernel drops what the guest sends until a new provider adopts
     * the rule. Nothing is released (invariant I1).
     */
    void abandon() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        attachment.abandon();
        LOG.info("NFQUEUE {} of {} left in place: its rule stays, the kernel drops the guest's output until a new "
                + "attach adopts it", queue, interfaceName);
    }

    /**
     * The provider's bundle is updated: no more verdicts from this instance; what pass-through let go is accepted
     * first, everything else stays held, the queue bound, the rule in place. The hold as the next provider takes it
     * over, or null when this buffer was closed or its queue could not be let go (then as {@link #abandon()}).
     */
    NfqueueHandOver.Hold handOver() {
        synchronized (this) {
            if (closed) {
                return null;
            }
            flushPassThrough();
            passThrough = false;
            closed = true;
        }
        NfqueueHandOver.Queue socket = attachment.handOver();
        if (socket == null) {
            return null;
        }
        synchronized (this) {
            long packets = openPackets;
            long bytes = openBytes;
            for (Sealed s : sealed) {
                packets += s.packets();
                bytes += s.bytes();
            }
            LOG.info("NFQUEUE {} of {} handed over with {} packets held: the queue stays bound for the next provider",
                    queue, interfaceName, packets);
            return new NfqueueHandOver.Hold(interfaceName, queue, socket,
                    new Ledger(receivedAny, lastReceived, lastVerdict, dropOwed, dropUpTo, packets, bytes));
        }
    }

    /**
     * Takes over the ledger an earlier provider {@linkplain #handOver() handed over}, before receiving starts: what it
     * held is held here, detached, and the next attach adopts it (the first epoch sealed then takes all of it).
     */
    synchronized void inherit(Ledger l) {
        receivedAny = l.receivedAny();
        lastReceived = l.lastReceived();
        lastVerdict = l.lastVerdict();
        dropOwed = l.dropOwed();
        dropUpTo = l.dropUpTo();
        openPackets = l.heldPackets();
        openBytes = l.heldBytes();
        packetsQueued = l.heldPackets();
        bytesQueued = l.heldBytes();
        detached = true;
    }

    @Override
    public synchronized OutputBufferStats stats() {
        return new OutputBufferStats(NfqueueProvider.NAME, packetsQueued, bytesQueued, packetsReleased,
                bytesReleased, packetsDropped, sealed.size());
    }

    /** Verdicts that could not be sent (their packets stayed held). */
    synchronized long verdictFailures() {
        return verdictFailures;
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        attachment.stopIntake();
        synchronized (this) {
            dropHeld();
        }
        attachment.shutdown();
        LOG.info("NFQUEUE {} of {} closed; held output dropped ({} packets dropped in all)", queue, interfaceName,
                stats().packetsDropped());
    }

    @Override
    public String toString() {
        return "NFQUEUE " + queue + " of " + interfaceName;
    }
}
