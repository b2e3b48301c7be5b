package io.romulus.sim.internal;

import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

import io.romulus.api.hypervisor.GuestInterface;

/** The synthetic NIC of a synthetic domain: emits numbered packets into its output buffer, or onto the wire. */
final class SimNic {

    private final GuestInterface description;
    private final SimWire wire;
    private volatile SimOutputBuffer buffer;
    /** When this NIC's first packet left the guest: see {@link SimDomain#firstFrameAfterActivation()}. */
    private final CompletableFuture<OptionalLong> firstFrame = new CompletableFuture<>();

    SimNic(String domainName, SimWire wire) {
        int h = domainName.hashCode();
        String mac = String.format("52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
        this.description = new GuestInterface("net0", mac, SimHypervisor.BINDING, domainName + "/net0", null);
        this.wire = wire;
    }

    GuestInterface description() {
        return description;
    }

    SimWire wire() {
        return wire;
    }

    void attach(SimOutputBuffer b) {
        buffer = b;
    }

    void detach(SimOutputBuffer b) {
        if (buffer == b) {
            buffer = null;
        }
    }

    /** The buffer that holds this NIC's output, or {@code null}. */
    SimOutputBuffer buffer() {
        return buffer;
    }

    /** Completes with the {@link System#nanoTime()} of the first packet this NIC emitted. */
    CompletableFuture<OptionalLong> firstFrame() {
        return firstFrame;
    }

    void emit(long seq, long writeCount) {
        if (!firstFrame.isDone()) {
            firstFrame.complete(OptionalLong.of(System.nanoTime()));
        }
        SimOutputBuffer b = buffer;
        if (b == null || !b.hold(seq, writeCount)) {
            wire.send(new SimWire.Packet(description.hostDevice(), seq, writeCount, -1, System.nanoTime()));
        }
    }
}
