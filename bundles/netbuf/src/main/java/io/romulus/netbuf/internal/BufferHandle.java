package io.romulus.netbuf.internal;

import java.util.Map;

import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferStats;

/**
 * What {@code attach} hands an engine: its use of a provider's hold of one interface, from attach to
 * {@link #detach()} or {@link #close()}. Once detached (or closed) this handle does nothing more, so an engine that
 * let go of a buffer cannot, by a late call, release or remove the hold a later attach adopted; the hold itself
 * lives on in the provider ({@code held}) and the next attach of the interface returns a new handle over it.
 *
 * <p>Thread-safe: calls are serialized per handle.
 */
public final class BufferHandle implements OutputBuffer {

    /** A provider's hold of one interface, which an engine can let go of and a later attach can take over. */
    public interface Hold extends OutputBuffer {
        /** Whether the engine let go of it (its handle was detached) and no attach has taken it over since. */
        boolean detached();

        /** A new attach takes the hold over: the next epoch sealed, whatever its number, takes everything held. */
        void adopt();
    }

    private final OutputBuffer held;
    private boolean active = true;

    public BufferHandle(OutputBuffer held) {
        this.held = held;
    }

    /**
     * A new handle over the hold of {@code key} in {@code holds} (the caller holds its lock) when that hold was
     * detached; null when there is none, and an error when it is attached: one interface, one engine.
     */
    public static BufferHandle adoptDetached(Map<String, ? extends Hold> holds, String key, String where)
            throws OutputBufferException {
        Hold held = holds.get(key);
        if (held == null) {
            return null;
        }
        if (!held.detached()) {
            throw new OutputBufferException("the output of " + where + " is held already (" + held
                    + ", attached and not detached): detach or close that buffer first");
        }
        held.adopt();
        return new BufferHandle(held);
    }

    @Override
    public String interfaceName() {
        return held.interfaceName();
    }

    @Override
    public synchronized void seal(long epoch) {
        if (active) {
            held.seal(epoch);
        }
    }

    @Override
    public synchronized void release(long epoch) {
        if (active) {
            held.release(epoch);
        }
    }

    @Override
    public synchronized void discard() {
        if (active) {
            held.discard();
        }
    }

    @Override
    public synchronized void passThrough() {
        if (active) {
            held.passThrough();
        }
    }

    @Override
    public synchronized void resumeBuffering() {
        if (active) {
            held.resumeBuffering();
        }
    }

    /** The hold's counters, also after this handle was detached or closed. */
    @Override
    public OutputBufferStats stats() {
        return held.stats();
    }

    /** Lets go of the hold, which keeps everything held (see the provider); later calls on this handle do nothing. */
    @Override
    public synchronized void detach() {
        if (active) {
            active = false;
            held.detach();
        }
    }

    /** Closes the hold, unless this handle was detached: then the hold belongs to whoever attaches next. */
    @Override
    public synchronized void close() {
        if (active) {
            active = false;
            held.close();
        }
    }

    /** Whether this handle still drives the hold (attached, neither detached nor closed). */
    public synchronized boolean active() {
        return active;
    }

    @Override
    public String toString() {
        return held + (active() ? "" : " (let go)");
    }
}
