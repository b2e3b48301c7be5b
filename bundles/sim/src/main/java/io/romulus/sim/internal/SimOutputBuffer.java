package io.romulus.sim.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferStats;

/**
 * Output commit for a synthetic NIC: packets are held in memory per sealed epoch and released on ACK.
 *
 * <p>{@link #detach()} lets go of the buffer but not of the hold: everything held, sealed or not, stays held and
 * later output is held too, until {@link SimHypervisor#attach} of the same NIC adopts the hold ({@link #handOver()}):
 * the new buffer holds all of it as not yet sealed, so it belongs to the first epoch the new buffer seals. A detached
 * buffer refuses to seal, release, discard or pass through, and its {@link #close()} does nothing.
 */
final class SimOutputBuffer implements OutputBuffer {

    /** Bytes a synthetic packet counts for. */
    static final int PACKET_BYTES = 64;

    private record Held(long seq, long writeCount) {
    }

    private record Sealed(long epoch, List<Held> packets) {
    }

    private final SimNic nic;
    private final ArrayDeque<Sealed> sealed = new ArrayDeque<>();
    private List<Held> open = new ArrayList<>();
    private boolean passThrough;
    private boolean closed;
    private boolean detached;
    /** The buffer that adopted this one's hold; from then on the NIC's packets go there. */
    private SimOutputBuffer successor;
    private long lastSealed = Long.MIN_VALUE;
    private long queued;
    private long released;
    private long dropped;

    SimOutputBuffer(SimNic nic) {
        this.nic = nic;
        nic.attach(this);
    }

    /** Called by the NIC; returns false if the packet should go straight out. */
    synchronized boolean hold(long seq, long writeCount) {
        if (successor != null) {
            return successor.hold(seq, writeCount);
        }
        if (passThrough || closed) {
            return false;
        }
        open.add(new Held(seq, writeCount));
        queued++;
        return true;
    }

    @Override
    public String interfaceName() {
        return nic.description().hostDevice();
    }

    private void driving() {
        if (detached) {
            throw new IllegalStateException("the output buffer of " + interfaceName() + " was detached; attach the"
                    + " interface again to adopt its hold");
        }
    }

    @Override
    public synchronized void detach() {
        if (closed || detached) {
            return;
        }
        detached = true;
        passThrough = false;
    }

    synchronized boolean isDetached() {
        return detached;
    }

    /**
     * A new buffer that takes this detached one's hold: what is held, sealed or not and in order, becomes the new
     * buffer's unsealed output, and the NIC's later packets go to the new buffer.
     */
    synchronized SimOutputBuffer handOver() {
        if (!detached || successor != null) {
            throw new IllegalStateException("only a detached buffer's hold can be adopted, and once");
        }
        SimOutputBuffer next = new SimOutputBuffer(nic, this);
        successor = next;
        sealed.clear();
        open = new ArrayList<>();
        return next;
    }

    private SimOutputBuffer(SimNic nic, SimOutputBuffer from) {
        this.nic = nic;
        for (Sealed s : from.sealed) {
            open.addAll(s.packets());
        }
        open.addAll(from.open);
        queued = from.queued;
        released = from.released;
        dropped = from.dropped;
        nic.attach(this);
    }

    @Override
    public synchronized void seal(long epoch) {
        driving();
        if (epoch <= lastSealed) {
            throw new IllegalArgumentException("epoch " + epoch + " sealed after epoch " + lastSealed);
        }
        lastSealed = epoch;
        sealed.addLast(new Sealed(epoch, open));
        open = new ArrayList<>();
    }

    @Override
    public synchronized void release(long epoch) {
        driving();
        while (!sealed.isEmpty() && sealed.peekFirst().epoch() <= epoch) {
            Sealed s = sealed.removeFirst();
            send(s.packets(), s.epoch());
        }
    }

    private void send(List<Held> packets, long epoch) {
        for (Held h : packets) {
            nic.wire().send(new SimWire.Packet(interfaceName(), h.seq(), h.writeCount(), epoch, System.nanoTime()));
            released++;
        }
    }

    @Override
    public synchronized void discard() {
        driving();
        for (Sealed s : sealed) {
            dropped += s.packets().size();
        }
        dropped += open.size();
        sealed.clear();
        open = new ArrayList<>();
    }

    @Override
    public synchronized void passThrough() {
        driving();
        for (Sealed s : sealed) {
            send(s.packets(), s.epoch());
        }
        sealed.clear();
        send(open, -1);
        open = new ArrayList<>();
        passThrough = true;
    }

    @Override
    public synchronized void resumeBuffering() {
        driving();
        passThrough = false;
    }

    @Override
    public synchronized OutputBufferStats stats() {
        long outstanding = sealed.size();
        return new OutputBufferStats("sim", queued, queued * PACKET_BYTES, released, released * PACKET_BYTES, dropped,
                outstanding);
    }

    @Override
    public synchronized void close() {
        if (detached) {
            return;
        }
        closed = true;
        discard();
        nic.detach(this);
    }
}
