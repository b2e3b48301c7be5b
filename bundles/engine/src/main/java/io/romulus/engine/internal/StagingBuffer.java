package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * An engine-owned, off-heap buffer for the pages of one checkpoint. It grows to the largest dirty set seen and is
 * reused, so the pause does not allocate in the steady state. A {@link ByteBuffer} holds at most 2 GiB and a
 * checkpoint of a large guest may dirty more, so the pages live in segments of at most {@code segmentBytes} (1 GiB):
 * segment {@code i} holds pages {@code pfns[segmentFrom(i)..+segmentPageCount(i))}, each copied and sent on its own.
 */
final class StagingBuffer {

    /** Bytes of pages in one segment, at most. */
    static final long DEFAULT_SEGMENT_BYTES = 1L << 30;
    /**
     * The segment size of the buffers a stream creates from now on: {@link #DEFAULT_SEGMENT_BYTES}, lowered by tests
     * so that checkpoints of a few pages already travel in parts. Volatile: read by the threads that open streams.
     */
    static volatile long streamSegmentBytes = DEFAULT_SEGMENT_BYTES;

    private final int pageSize;
    private final int segmentPages;
    private ByteBuffer[] segments;
    private long[] pfns = new long[0];
    private int pageCount;

    StagingBuffer(int pageSize, int initialPages) {
        this(pageSize, initialPages, DEFAULT_SEGMENT_BYTES);
    }

    /** With segments of at most {@code segmentBytes} (at least one page), for tests of checkpoints of many segments. */
    StagingBuffer(int pageSize, int initialPages, long segmentBytes) {
        this.pageSize = pageSize;
        this.segmentPages = (int) Math.max(1, Math.min(segmentBytes, Integer.MAX_VALUE) / pageSize);
        this.segments = new ByteBuffer[] {
            ByteBuffer.allocateDirect(Math.max(1, Math.min(initialPages, segmentPages)) * pageSize)};
    }

    /** Makes room for the pages of {@code dirtyPfns} and clears every segment, ready to be filled from position 0. */
    void prepare(long[] dirtyPfns) {
        int count = dirtyPfns.length;
        int needed = segmentsFor(count);
        if (needed > segments.length) {
            segments = Arrays.copyOf(segments, needed);
        }
        for (int i = 0; i < needed; i++) {
            int pages = Math.min(segmentPages, count - i * segmentPages);
            ByteBuffer s = segments[i];
            int capacity = s == null ? 0 : s.capacity() / pageSize;
            if (pages > capacity) {
                int grown = (int) Math.min(segmentPages, Math.max(pages, 2L * capacity));
                segments[i] = ByteBuffer.allocateDirect(grown * pageSize);
            }
        }
        for (ByteBuffer s : segments) {
            if (s != null) {
                s.clear();
            }
        }
        pfns = dirtyPfns;
        pageCount = count;
    }

    private int segmentsFor(int pages) {
        return Math.max(1, (int) ((pages + (long) segmentPages - 1) / segmentPages));
    }

    /** How many segments the staged pages take (one, empty, when there are none). */
    int segmentCount() {
        return segmentsFor(pageCount);
    }

    /** The index in {@link #pfns()} of the first page of segment {@code i}. */
    int segmentFrom(int i) {
        return i * segmentPages;
    }

    /** How many pages segment {@code i} holds. */
    int segmentPageCount(int i) {
        return Math.max(0, Math.min(segmentPages, pageCount - i * segmentPages));
    }

    /** Segment {@code i} to be filled: position 0, room for its pages. */
    ByteBuffer segment(int i) {
        return segments[i];
    }

    /** The staged pages of segment {@code i}, from position 0. */
    ByteBuffer pages(int i) {
        ByteBuffer view = segments[i].duplicate();
        view.position(0).limit(segmentPageCount(i) * pageSize);
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
