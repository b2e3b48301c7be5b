package io.romulus.engine.internal;

import java.nio.ByteBuffer;

/**
 * An engine-owned, off-heap buffer for the pages of one checkpoint. It grows to the largest dirty set seen and is
 * reused, so the pause does not allocate in the steady state.
 */
final class StagingBuffer {

    private final int pageSize;
    private ByteBuffer buffer;
    private long[] pfns = new long[0];
    private int pageCount;

    StagingBuffer(int pageSize, int initialPages) {
        this.pageSize = pageSize;
        this.buffer = ByteBuffer.allocateDirect(Math.max(1, initialPages) * pageSize);
    }

    /** Makes room for {@code pages} pages and returns the buffer cleared, ready to be filled from position 0. */
    ByteBuffer prepare(long[] dirtyPfns) {
        long needed = (long) dirtyPfns.length * pageSize;
        if (needed > Integer.MAX_VALUE) {
            throw new IllegalStateException(dirtyPfns.length + " dirty pages do not fit one staging buffer");
        }
        if (needed > buffer.capacity()) {
            int grown = (int) Math.min(Integer.MAX_VALUE, Math.max(needed, (long) buffer.capacity() * 2));
            buffer = ByteBuffer.allocateDirect(grown - grown % pageSize);
        }
        pfns = dirtyPfns;
        pageCount = dirtyPfns.length;
        buffer.clear();
        return buffer;
    }

    /** The staged pages, from position 0. */
    ByteBuffer pages() {
        ByteBuffer view = buffer.duplicate();
        view.position(0).limit(pageCount * pageSize);
        return view;
    }

    long[] pfns() {
        return pfns;
    }

    int pageCount() {
        return pageCount;
    }

    int pageSize() {
        return pageSize;
    }
}
