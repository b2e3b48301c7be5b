package io.romulus.qemu.internal.dirty;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * Dirty-page tracking for kernels without {@code PAGEMAP_SCAN} (before Linux 6.7): keeps a private copy of
 * the memory and reports the pages that differ from it, then updates the copy.
 *
 * <p>Simple and always correct, but costly: it holds a second full copy of the memory in the JVM heap,
 * and every {@link #harvest()} reads the whole memory and the whole copy (two sequential passes over RAM
 * size, memory-bandwidth bound: tens of milliseconds per GiB), however few pages changed. A page that was
 * written with the value it already had is not reported, which is harmless for replication.
 *
 * <p>The memory is seen through {@link ByteBuffer}s (e.g. the {@code MappedByteBuffer}s of QEMU's RAM file), each of
 * at most 2 GiB: a larger guest's memory is a list of slices, whose pages are numbered on from one slice to the next.
 */
public final class CompareDirtyTracker implements DirtyTracker {

    private final ByteBuffer[] memory;
    private final ByteBuffer[] copy;
    /** The number of the first page of each slice. */
    private final long[] firstPage;
    private final int pageSize;
    private long[] pages = new long[64];

    /**
     * Starts tracking {@code memory} from its position to its limit, taking the first copy now.
     * The buffer is not modified (its position and limit are not used afterwards).
     */
    public CompareDirtyTracker(ByteBuffer memory, int pageSize) {
        this(List.of(memory), pageSize);
    }

    /**
     * Starts tracking the memory made of {@code slices}, in order, each from its position to its limit, taking the
     * first copy now. The buffers are not modified.
     */
    public CompareDirtyTracker(List<ByteBuffer> slices, int pageSize) {
        int n = slices.size();
        this.memory = new ByteBuffer[n];
        this.copy = new ByteBuffer[n];
        this.firstPage = new long[n];
        this.pageSize = pageSize;
        long page = 0;
        for (int i = 0; i < n; i++) {
            ByteBuffer slice = slices.get(i);
            if (pageSize <= 0 || slice.remaining() % pageSize != 0) {
                throw new IllegalArgumentException(
                        "memory size " + slice.remaining() + " is not a multiple of the page size " + pageSize);
            }
            memory[i] = slice.slice();
            byte[] initial = new byte[memory[i].capacity()];
            memory[i].get(0, initial);
            copy[i] = ByteBuffer.wrap(initial);
            firstPage[i] = page;
            page += initial.length / pageSize;
        }
    }

    @Override
    public synchronized long[] harvest() {
        int count = 0;
        for (int i = 0; i < memory.length; i++) {
            ByteBuffer m = memory[i];
            ByteBuffer c = copy[i];
            int size = m.capacity();
            int offset = 0;
            while (offset < size) {
                int length = size - offset;
                int at = m.slice(offset, length).mismatch(c.slice(offset, length));
                if (at < 0) {
                    break;
                }
                int page = (offset + at) / pageSize;
                int pageStart = page * pageSize;
                c.put(pageStart, m, pageStart, pageSize);
                if (count == pages.length) {
                    pages = Arrays.copyOf(pages, count * 2);
                }
                pages[count++] = firstPage[i] + page;
                offset = pageStart + pageSize;
            }
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
