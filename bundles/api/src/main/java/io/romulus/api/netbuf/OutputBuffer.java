package io.romulus.api.netbuf;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Output commit for one guest interface (invariant I1): everything the guest sends is held until the backup has
 * acknowledged the checkpoint that produced it. Buffering starts when the buffer is attached.
 *
 * <p>Per epoch N the engine calls {@link #seal(long) seal(N)} before it pauses the domain (everything held so far
 * belongs to N) and, when the backup acknowledges N, {@link #release(long) release(N)}.
 */
@ProviderType
public interface OutputBuffer extends AutoCloseable {

    /** The interface this buffer holds. */
    String interfaceName();

    /** Everything held and not yet sealed belongs to {@code epoch}. Epochs are sealed in increasing order. */
    void seal(long epoch);

    /** Releases, in order, everything sealed into epochs up to and including {@code epoch}. */
    void release(long epoch);

    /** Drops everything held (the checkpoints that produced it will never be acknowledged). */
    void discard();

    /**
     * Stops holding output: everything held is released and later output passes straight through. Used when the
     * domain runs unprotected (backup lost, invariant I4). {@link #resumeBuffering()} starts holding again.
     */
    void passThrough();

    /** Starts holding output again after {@link #passThrough()}. */
    void resumeBuffering();

    OutputBufferStats stats();

    /**
     * The engine lets go of this buffer without deciding about its output (the engine bundle is being updated):
     * everything held, sealed or not, stays held, and later output is held too. The next
     * {@link OutputBufferProvider#attach(io.romulus.api.hypervisor.GuestInterface) attach} of the same interface to
     * the same provider adopts the hold. The default keeps the buffer as it is.
     *
     * @since 1.1
     */
    default void detach() {
    }

    /** Releases nothing more, removes what was installed, and leaves the interface as it was found. */
    @Override
    void close();
}
