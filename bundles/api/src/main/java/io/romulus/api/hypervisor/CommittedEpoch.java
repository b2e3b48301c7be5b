package io.romulus.api.hypervisor;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * One complete, verified epoch, as the backup applies it to its replica. A {@link ByteBuffer} holds at most 2 GiB and
 * an epoch of a large guest may carry more, so its pages come in segments: each holds whole pages, from position 0 to
 * its limit, and together they hold the epoch's pages in {@code pfns} order.
 *
 * @param epoch       the epoch number
 * @param pfns        page frame numbers of the pages in this epoch; only the first {@code pageCount} are valid
 * @param pageCount   number of pages
 * @param segments    page contents: {@code pageCount * pageSize} bytes over the segments, in {@code pfns} order
 * @param deviceState the opaque device state captured at the end of the epoch
 * @since 1.9
 */
public record CommittedEpoch(long epoch, long[] pfns, int pageCount, List<ByteBuffer> segments, byte[] deviceState) {

    public CommittedEpoch {
        segments = List.copyOf(segments);
    }

    /** An epoch whose pages fit one buffer: {@code pageCount * pageSize} bytes from position 0. */
    public CommittedEpoch(long epoch, long[] pfns, int pageCount, ByteBuffer pages, byte[] deviceState) {
        this(epoch, pfns, pageCount, List.of(pages), deviceState);
    }

    /**
     * The page contents in one buffer, when they come in one segment (epochs built with the one-buffer constructor).
     *
     * @throws IllegalStateException when the pages come in several segments: use {@link #writePages}
     */
    public ByteBuffer pages() {
        if (segments.size() != 1) {
            throw new IllegalStateException("epoch " + epoch + " holds its pages in " + segments.size()
                    + " segments");
        }
        return segments.get(0);
    }

    /**
     * Hands the epoch's {@code pageCount} pages to {@code writer} one segment at a time, in {@code pfns} order, so a
     * binding writes an epoch of any size without one buffer for it all.
     *
     * @param pageSize the replica's page size
     * @since 1.9
     */
    public <E extends Exception> void writePages(int pageSize, PageWriter<E> writer) throws E {
        int from = 0;
        for (ByteBuffer s : segments) {
            int n = Math.min(s.remaining() / pageSize, pageCount - from);
            if (n > 0) {
                writer.write(pfns, from, n, s.duplicate());
            }
            from += n;
        }
        if (from < pageCount) {
            throw new IllegalStateException("epoch " + epoch + " announces " + pageCount + " pages, its segments hold "
                    + from);
        }
    }

    /**
     * Writes pages into a replica: {@code count} pages, {@code pfns[from..from+count)}, whose contents {@code data}
     * holds from its position.
     *
     * @since 1.9
     */
    @FunctionalInterface
    public interface PageWriter<E extends Exception> {
        void write(long[] pfns, int from, int count, ByteBuffer data) throws E;
    }
}
