package io.romulus.sim.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferStats;

/** Output commit for a synthetic NIC: packets are held in memory per sealed epoch and released on ACK. */
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

    @Override
    public synchronized void seal(long epoch) {
        if (epoch <= lastSealed) {
            throw new IllegalArgumentException("epoch " + epoch + " sealed after epoch " + lastSealed);
        }
        lastSealed = epoch;
        sealed.addLast(new Sealed(epoch, open));
        open = new ArrayList<>();
    }

    @Override
    public synchronized void release(long epoch) {
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
        for (Sealed s : sealed) {
            dropped += s.packets().size();
        }
        dropped += open.size();
        sealed.clear();
        open = new ArrayList<>();
    }

    @Override
    public synchronized void passThrough() {
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
        closed = true;
        discard();
        nic.detach(this);
    }
}
