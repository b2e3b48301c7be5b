package io.romulus.sim.internal;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Off-heap memory of a synthetic domain or replica: direct buffers of at most one chunk each (1 GiB by default), so
 * sizes beyond 2 GiB work. Pages never straddle chunks.
 */
public final class SimMemory {

    public static final int PAGE_SIZE = 4096;
    static final long DEFAULT_CHUNK = 1L << 30;

    private final long bytes;
    private final long pageCount;
    private final int pagesPerChunk;
    private final ByteBuffer[] chunks;

    public SimMemory(long bytes) {
        this(bytes, DEFAULT_CHUNK);
    }

    SimMemory(long bytes, long chunkBytes) {
        if (bytes <= 0 || bytes % PAGE_SIZE != 0) {
            throw new IllegalArgumentException("memory size " + bytes + " is not a positive multiple of " + PAGE_SIZE);
        }
        if (chunkBytes % PAGE_SIZE != 0 || chunkBytes > Integer.MAX_VALUE - PAGE_SIZE + 1) {
            throw new IllegalArgumentException("bad chunk size " + chunkBytes);
        }
        this.bytes = bytes;
        this.pageCount = bytes / PAGE_SIZE;
        this.pagesPerChunk = (int) (chunkBytes / PAGE_SIZE);
        int n = (int) ((pageCount + pagesPerChunk - 1) / pagesPerChunk);
        this.chunks = new ByteBuffer[n];
        for (int i = 0; i < n; i++) {
            long pages = Math.min(pagesPerChunk, pageCount - (long) i * pagesPerChunk);
            chunks[i] = ByteBuffer.allocateDirect((int) (pages * PAGE_SIZE));
        }
    }

    /** A copy of this memory in memory of its own (a clone's); the caller keeps it from changing meanwhile. */
    SimMemory copy() {
        SimMemory c = new SimMemory(bytes, (long) pagesPerChunk * PAGE_SIZE);
        for (int i = 0; i < chunks.length; i++) {
            c.chunks[i].put(0, chunks[i], 0, chunks[i].capacity());
        }
        return c;
    }

    public long bytes() {
        return bytes;
    }

    public long pageCount() {
        return pageCount;
    }

    int chunkCount() {
        return chunks.length;
    }

    private ByteBuffer chunk(long pfn) {
        if (pfn < 0 || pfn >= pageCount) {
            throw new IndexOutOfBoundsException("page " + pfn + " outside 0.." + (pageCount - 1));
        }
        return chunks[(int) (pfn / pagesPerChunk)];
    }

    private int offset(long pfn) {
        return (int) (pfn % pagesPerChunk) * PAGE_SIZE;
    }

    /** Copies page {@code pfn} into {@code dst} at its position, which advances by a page. */
    public void readPage(long pfn, ByteBuffer dst) {
        ByteBuffer src = chunk(pfn).duplicate();
        int off = offset(pfn);
        src.limit(off + PAGE_SIZE).position(off);
        dst.put(src);
    }

    /** Copies a page from {@code src} at its position (which advances by a page) into page {@code pfn}. */
    public void writePage(long pfn, ByteBuffer src) {
        ByteBuffer dst = chunk(pfn).duplicate();
        dst.position(offset(pfn));
        ByteBuffer page = src.duplicate();
        page.limit(page.position() + PAGE_SIZE);
        dst.put(page);
        src.position(src.position() + PAGE_SIZE);
    }

    /** Writes one long inside a page (the workload's store). */
    void putLong(long pfn, int byteOffset, long value) {
        chunk(pfn).putLong(offset(pfn) + byteOffset, value);
    }

    long getLong(long pfn, int byteOffset) {
        return chunk(pfn).getLong(offset(pfn) + byteOffset);
    }

    /** Fills page {@code pfn} from {@code pattern} starting at {@code from} (wrapping). */
    void fill(long pfn, byte[] pattern, int from) {
        ByteBuffer c = chunk(pfn);
        int off = offset(pfn);
        for (int i = 0; i < PAGE_SIZE; i++) {
            c.put(off + i, pattern[(from + i) % pattern.length]);
        }
    }

    /** CRC32C over all pages in order. */
    public int digest() {
        CRC32C crc = new CRC32C();
        for (ByteBuffer c : chunks) {
            crc.update(c.duplicate().clear());
        }
        return (int) crc.getValue();
    }

    /** The first page that differs from {@code other}'s, or -1 if both hold the same bytes. */
    public long firstDifference(SimMemory other) {
        if (other.bytes != bytes) {
            return 0;
        }
        ByteBuffer a = ByteBuffer.allocate(PAGE_SIZE);
        ByteBuffer b = ByteBuffer.allocate(PAGE_SIZE);
        for (long pfn = 0; pfn < pageCount; pfn++) {
            a.clear();
            b.clear();
            readPage(pfn, a);
            other.readPage(pfn, b);
            if (!a.flip().equals(b.flip())) {
                return pfn;
            }
        }
        return -1;
    }
}
