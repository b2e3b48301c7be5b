package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A guest's RAM file (QEMU's {@code memory-backend-file,share=on}, on tmpfs), mapped shared into this JVM: what the
 * primary copies dirty pages from, and what the backup's replica writes committed pages into. Page {@code n} is the
 * {@code n}-th page of the file, which is how QEMU lays out the backend.
 */
final class GuestRam {

    /** Chunk size of the mapping: MappedByteBuffers are int-indexed. */
    private static final long CHUNK = 1L << 30;

    private final Path file;
    private final long bytes;
    private final int pageSize;
    private final MappedByteBuffer[] chunks;

    private GuestRam(Path file, long bytes, int pageSize, MappedByteBuffer[] chunks) {
        this.file = file;
        this.bytes = bytes;
        this.pageSize = pageSize;
        this.chunks = chunks;
    }

    /** Maps an existing RAM file of {@code bytes} bytes. */
    static GuestRam map(Path file, long bytes, int pageSize) throws IOException {
        long actual = Files.size(file);
        if (actual != bytes) {
            throw new IOException("the RAM file " + file + " has " + actual + " bytes, not " + bytes);
        }
        return doMap(file, bytes, pageSize);
    }

    /** Creates a RAM file of {@code bytes} zero bytes (sparse on tmpfs) and maps it. */
    static GuestRam create(Path file, long bytes, int pageSize) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ch.truncate(bytes);
            ch.write(ByteBuffer.allocate(1), bytes - 1);
        }
        return doMap(file, bytes, pageSize);
    }

    private static GuestRam doMap(Path file, long bytes, int pageSize) throws IOException {
        if (bytes % pageSize != 0) {
            throw new IOException("RAM size " + bytes + " is not a multiple of the page size " + pageSize);
        }
        int n = (int) ((bytes + CHUNK - 1) / CHUNK);
        MappedByteBuffer[] chunks = new MappedByteBuffer[n];
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            for (int i = 0; i < n; i++) {
                long offset = i * CHUNK;
                chunks[i] = ch.map(FileChannel.MapMode.READ_WRITE, offset, Math.min(CHUNK, bytes - offset));
            }
        }
        return new GuestRam(file, bytes, pageSize, chunks);
    }

    Path file() {
        return file;
    }

    long bytes() {
        return bytes;
    }

    long pageCount() {
        return bytes / pageSize;
    }

    private void check(long pfn) {
        if (pfn < 0 || pfn >= pageCount()) {
            throw new IndexOutOfBoundsException("page " + pfn + " is outside the " + pageCount() + " pages of " + file);
        }
    }

    /**
     * Copies pages {@code pfns[from..from+count)} into {@code dst} at its position, which advances. Runs of
     * consecutive pages are copied in one piece.
     */
    void copyOut(long[] pfns, int from, int count, ByteBuffer dst) {
        int i = from;
        int end = from + count;
        while (i < end) {
            long first = pfns[i];
            check(first);
            int run = 1;
            while (i + run < end && pfns[i + run] == first + run && sameChunk(first, first + run)) {
                run++;
            }
            long offset = first * pageSize;
            int len = run * pageSize;
            dst.put(dst.position(), chunks[(int) (offset / CHUNK)], (int) (offset % CHUNK), len);
            dst.position(dst.position() + len);
            i += run;
        }
    }

    /** Writes pages {@code pfns[from..from+count)} from {@code src} at its position, which advances. */
    void copyIn(long[] pfns, int from, int count, ByteBuffer src) {
        for (int i = from; i < from + count; i++) {
            check(pfns[i]);
            long offset = pfns[i] * pageSize;
            chunks[(int) (offset / CHUNK)].put((int) (offset % CHUNK), src, src.position(), pageSize);
            src.position(src.position() + pageSize);
        }
    }

    /** Reads one page into {@code dst} at its position, which advances. */
    void readPage(long pfn, ByteBuffer dst) {
        copyOut(new long[] {pfn}, 0, 1, dst);
    }

    private boolean sameChunk(long a, long b) {
        return (a * pageSize) / CHUNK == (b * pageSize) / CHUNK;
    }

    /** Views of the whole RAM, one per chunk of the mapping, in order (what the compare-scan tracker reads). */
    List<ByteBuffer> views() {
        List<ByteBuffer> views = new ArrayList<>(chunks.length);
        for (MappedByteBuffer c : chunks) {
            views.add(c.duplicate());
        }
        return views;
    }
}
