package io.romulus.qemu.internal.dirty;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Dirty-page tracking for kernels without {@code PAGEMAP_SCAN} (before Linux 6.7): keeps a private copy of
 * the memory and reports the pages that differ from it, then updates the copy.
 *
 * <p>Simple and always correct, but costly: it holds a second full copy of the memory in the JVM heap,
 * and every {@link #harvest()} reads the whole memory and the whole copy (two sequential passes over RAM
 * size, memory-bandwidth bound: tens of milliseconds per GiB), however few pages changed. A page that was
 * written with the value it already had is not reported, which is harmless for replication.
 *
 * <p>The memory is seen through a {@link ByteBuffer} (e.g. a {@code MappedByteBuffer} of QEMU's RAM file),
 * so one tracker covers at most 2 GiB; larger guests need one tracker per 2 GiB slice.
 */
public final class CompareDirtyTracker implements DirtyTracker {

    private final ByteBuffer memory;
    private final ByteBuffer copy;
    private final int pageSize;
    private final int size;
    private long[] pages = new long[64];

    /**
     * Starts tracking {@code memory} from its position to its limit, taking the first copy now.
     * The buffer is not modified (its position and limit are not used afterwards).
     */
    public CompareDirtyTracker(ByteBuffer memory, int pageSize) {
        if (pageSize <= 0 || memory.remaining() % pageSize != 0) {
            throw new IllegalArgumentException(
                    "memory size " + memory.remaining() + " is not a multiple of the page size " + pageSize);
        }
        this.memory = memory.slice();
        this.pageSize = pageSize;
        this.size = this.memory.capacity();
        byte[] initial = new byte[size];
        this.memory.get(0, initial);
        this.copy = ByteBuffer.wrap(initial);
    }

    @Override
    public synchronized long[] harvest() {
        int count = 0;
        int offset = 0;
        while (offset < size) {
            int length = size - offset;
            int at = memory.slice(offset, length).mismatch(copy.slice(offset, length));
            if (at < 0) {
                break;
            }
            int page = (offset + at) / pageSize;
            int pageStart = page * pageSize;
            copy.put(pageStart, memory, pageStart, pageSize);
            if (count == pages.length) {
                pages = Arrays.copyOf(pages, count * 2);
            }
            pages[count++] = page;
            offset = pageStart + pageSize;
        }
        return Arrays.copyOf(pages, count);
    }

    @Override
    public void close() {
        // nothing native; the copy goes with the object
    }

    @Override
    public String name() {
        return "compare";
    }
}
