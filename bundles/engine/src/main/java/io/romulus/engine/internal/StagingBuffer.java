package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An engine-owned, off-heap buffer for the pages of one checkpoint: on the primary the pages the pause copies, on the
 * backup the pages a stream delivers until the checkpoint's end. A {@link ByteBuffer} holds at most 2 GiB and a
 * checkpoint of a large guest may dirty more, so the pages live in segments of at most {@code segmentBytes} (1 GiB by
 * default): segment {@code i} holds pages {@code pfns[segmentFrom(i)..+segmentPageCount(i))}, and each is copied, sent
 * and applied on its own.
 *
 * <p>The buffer grows to the checkpoint it holds and is reused, so the pause does not allocate in the steady state. The
 * first segment stays; segments beyond those the current checkpoint needs are let go, so one large checkpoint does not
 * pin its memory for the life of the stream (the garbage collector frees it).
 */
final class StagingBuffer {

    /** Bytes of pages in one segment, at most. */
    static final long DEFAULT_SEGMENT_BYTES = 1L << 30;

    private final int pageSize;
    private final int segmentPages;
    private ByteBuffer[] segments;
    private long[] pfns;
    private int pageCount;

    StagingBuffer(int pageSize, int initialPages) {
        this(pageSize, initialPages, DEFAULT_SEGMENT_BYTES);
    }

    /** With segments of at most {@code segmentBytes} (at least one page), for tests of checkpoints of many segments. */
    StagingBuffer(int pageSize, int initialPages, long segmentBytes) {
        if (segmentBytes < pageSize || segmentBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a staging segment holds 1 page to 2 GiB, not " + segmentBytes
                    + " bytes");
        }
        this.pageSize = pageSize;
        this.segmentPages = (int) (segmentBytes / pageSize);
        this.segments = new ByteBuffer[] {
            ByteBuffer.allocateDirect(Math.max(1, Math.min(initialPages, segmentPages)) * pageSize)};
        this.pfns = new long[Math.max(1, initialPages)];
    }

    /**
     * Primary: makes room for the pages of {@code dirtyPfns} (kept, not copied) and clears every segment, ready to be
     * filled from position 0 ({@link #segment}).
     */
    void prepare(long[] dirtyPfns) {
        reserve(dirtyPfns.length, 0);
        for (int i = 0; i < segmentsFor(dirtyPfns.length); i++) {
            segments[i].clear();
        }
        pfns = dirtyPfns;
        pageCount = dirtyPfns.length;
    }

    /** Backup: empties the buffer for the next checkpoint; its pages then arrive by {@link #append}. */
    void clear() {
        reserve(0, 0);
        pageCount = 0;
    }

    /**
     * Backup: appends {@code n} pages, {@code batchPfns[0..n)}, whose contents {@code data} holds from its position (a
     * batch may straddle segments).
     */
    void append(long[] batchPfns, int n, ByteBuffer data) {
        int total = Math.addExact(pageCount, n);
        reserve(total, pageCount);
        if (total > pfns.length) {
            pfns = Arrays.copyOf(pfns, (int) Math.min(Integer.MAX_VALUE, Math.max(total, 2L * pfns.length)));
        }
        System.arraycopy(batchPfns, 0, pfns, pageCount, n);
        ByteBuffer src = data.duplicate();
        int done = 0;
        while (done < n) {
            int at = pageCount + done;
            int k = Math.min(n - done, segmentPages - at % segmentPages);
            src.limit(src.position() + k * pageSize);
            segments[at / segmentPages].put(at % segmentPages * pageSize, src, src.position(), k * pageSize);
            src.position(src.limit());
            done += k;
        }
        pageCount = total;
    }

    /**
     * Makes room for {@code pages} pages, keeping the contents of the first {@code keep}, and lets go of the segments
     * beyond them (but the first).
     */
    private void reserve(int pages, int keep) {
        int needed = segmentsFor(pages);
        if (needed > segments.length) {
            segments = Arrays.copyOf(segments, needed);
        }
        for (int i = 0; i < needed; i++) {
            int want = Math.min(segmentPages, pages - i * segmentPages);
            ByteBuffer s = segments[i];
            int capacity = s == null ? 0 : s.capacity() / pageSize;
            if (want > capacity) {
                int grown = (int) Math.min(segmentPages, Math.max(want, 2L * capacity));
                ByteBuffer bigger = allocate(grown, pages);
                int kept = Math.max(0, Math.min(capacity, keep - i * segmentPages));
                if (kept > 0) {
                    bigger.put(0, s, 0, kept * pageSize);
                }
                segments[i] = bigger;
            }
        }
        for (int i = needed; i < segments.length; i++) {
            segments[i] = null;
        }
        if (needed < segments.length) {
            segments = Arrays.copyOf(segments, needed);
        }
    }

    /**
     * A segment of {@code segmentPages} pages, for a checkpoint of {@code pages}; a JVM whose direct memory cannot
     * hold it throws {@link IllegalStateException} naming the setting to raise.
     */
    private ByteBuffer allocate(int segmentPages, int pages) {
        try {
            return ByteBuffer.allocateDirect(segmentPages * pageSize);
        } catch (OutOfMemoryError e) {
            throw new IllegalStateException("staging a checkpoint of " + pages + " pages (" + (((long) pages
                    * pageSize) >> 20) + " MiB) needs more direct memory than this JVM may take (-XX:MaxDirectMemorySize,"
                    + " ROMULUS_DIRECT_MEMORY in bin/setenv): " + e.getMessage(), e);
        }
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

    /** The staged pages of every segment, in order: what a backup applies. */
    List<ByteBuffer> segmentViews() {
        List<ByteBuffer> views = new ArrayList<>(segmentCount());
        for (int i = 0; i < segmentCount(); i++) {
            views.add(pages(i));
        }
        return views;
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

    /** Bytes of staging held now (all segments' capacity). */
    long capacityBytes() {
        long bytes = 0;
        for (ByteBuffer s : segments) {
            bytes += s == null ? 0 : s.capacity();
        }
        return bytes;
    }
}
