package io.romulus.sim.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the synthetic NICs' released packets go: an in-memory recorder of the last {@code capacity} packets, so tests
 * can check output commit (invariant I1) and order.
 */
public final class SimWire {

    /**
     * A packet that left the host.
     *
     * @param nic          the interface's host device key ({@code name/net0})
     * @param seq          the NIC's sequence number
     * @param writeCount   the workload's write counter when the packet was emitted
     * @param sealedEpoch  the epoch it was held for, or -1 if it passed unbuffered
     * @param releasedNanos {@link System#nanoTime()} at release
     */
    public record Packet(String nic, long seq, long writeCount, long sealedEpoch, long releasedNanos) {
    }

    private final int capacity;
    private final ArrayDeque<Packet> packets = new ArrayDeque<>();
    private long total;

    public SimWire(int capacity) {
        this.capacity = capacity;
    }

    synchronized void send(Packet p) {
        if (packets.size() == capacity) {
            packets.removeFirst();
        }
        packets.addLast(p);
        total++;
    }

    /** The recorded packets, oldest first. */
    public synchronized List<Packet> packets() {
        return new ArrayList<>(packets);
    }

    /** Packets released since creation, including those no longer recorded. */
    public synchronized long total() {
        return total;
    }

    public synchronized void clear() {
        packets.clear();
    }
}
