package io.romulus.itests.e2e;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.netbuf.OutputBufferStats;

/**
 * Output buffers that hold nothing: the guest's replies leave at once, before the checkpoint that produced them is
 * acknowledged. This breaks invariant I1 and is never offered to a node; bench-debian uses it with
 * {@code --replies-held false} only to split what protection costs a workload into the checkpoints' own cost (pauses,
 * write faults, the engine's CPU) and the cost of holding replies until their checkpoint's ACK.
 */
final class UnheldOutput implements OutputBufferProvider {

    @Override
    public String name() {
        return "unheld (benchmark only: breaks I1)";
    }

    @Override
    public boolean supports(GuestInterface nic) {
        return true;
    }

    @Override
    public OutputBuffer attach(GuestInterface nic) {
        return new OutputBuffer() {
            @Override
            public String interfaceName() {
                return nic.name();
            }

            @Override
            public void seal(long epoch) {
                // nothing is held, so nothing is sealed
            }

            @Override
            public void release(long epoch) {
                // everything left already
            }

            @Override
            public void discard() {
                // nothing to discard
            }

            @Override
            public void passThrough() {
                // it always passes through
            }

            @Override
            public void resumeBuffering() {
                // it never buffers
            }

            @Override
            public OutputBufferStats stats() {
                return new OutputBufferStats(name(), 0, 0, 0, 0, 0, 0);
            }

            @Override
            public void close() {
                // holds nothing
            }
        };
    }
}
