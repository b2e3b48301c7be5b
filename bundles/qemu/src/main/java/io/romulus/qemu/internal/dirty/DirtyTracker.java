package io.romulus.qemu.internal.dirty;

import java.io.IOException;

/**
 * Tells which pages of a memory range were written since the last harvest. One tracker covers one
 * range (a VM's guest RAM); page numbers are relative to the start of that range.
 *
 * <p>Call {@link #harvest()} while the writer is stopped (at the end of an epoch) so that the pages it
 * returns and their contents belong to the same moment.
 */
public interface DirtyTracker extends AutoCloseable {

    /**
     * The pages written since the previous harvest (or since the tracker was created), in ascending order
     * without duplicates, and re-arms tracking for all of them.
     */
    long[] harvest() throws IOException;

    /** Stops tracking and releases what the tracker holds. Idempotent. */
    @Override
    void close();

    /**
     * Lets go of the tracker without ending the log where the mechanism allows it (a binding update: nothing in
     * this JVM's memory survives it, only kernel state). Idempotent; afterwards the tracker is unusable.
     *
     * @return whether the log goes on without this object, so that a new tracker can take it over; when not,
     *         the tracker is {@linkplain #close() closed}
     */
    default boolean release() {
        close();
        return false;
    }

    /** A short name of the mechanism, for logs and JMX ({@code uffd-wp-async}, {@code compare}). */
    String name();
}
