package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import com.sun.management.HotSpotDiagnosticMXBean;

import org.junit.jupiter.api.Test;

/**
 * A checkpoint's pages in segments: a ByteBuffer holds at most 2 GiB, so a checkpoint that dirties more is staged,
 * copied and sent in parts of at most a segment each. Here segments are 3 pages, so the parts show without 2 GiB.
 */
class StagingBufferTest {

    private static final int PAGE = 4096;

    /** What copyPages and sendPages see: each segment's pages, filled with their pfn, read back in order. */
    private static List<Long> stageAndRead(StagingBuffer b, long[] dirty) {
        b.prepare(dirty);
        for (int i = 0; i < b.segmentCount(); i++) {
            ByteBuffer s = b.segment(i);
            assertEquals(0, s.position());
            for (int p = 0; p < b.segmentPageCount(i); p++) {
                long pfn = dirty[b.segmentFrom(i) + p];
                for (int j = 0; j < PAGE / 8; j++) {
                    s.putLong(pfn);
                }
            }
        }
        List<Long> read = new ArrayList<>();
        for (int i = 0; i < b.segmentCount(); i++) {
            ByteBuffer pages = b.pages(i);
            assertEquals(b.segmentPageCount(i) * PAGE, pages.remaining());
            while (pages.hasRemaining()) {
                long pfn = pages.getLong(pages.position());
                assertEquals(dirty[read.size()], pfn, "page " + read.size() + " in segment " + i);
                pages.position(pages.position() + PAGE);
                read.add(pfn);
            }
        }
        return read;
    }

    private static long[] pfns(int n) {
        long[] p = new long[n];
        for (int i = 0; i < n; i++) {
            p[i] = 1000 + 7L * i;
        }
        return p;
    }

    @Test
    void aCheckpointLargerThanASegmentIsStagedInPartsInOrder() {
        StagingBuffer b = new StagingBuffer(PAGE, 1, 3L * PAGE);
        assertEquals(10, stageAndRead(b, pfns(10)).size());
        assertEquals(4, b.segmentCount());
        assertEquals(List.of(3, 3, 3, 1), List.of(b.segmentPageCount(0), b.segmentPageCount(1),
                b.segmentPageCount(2), b.segmentPageCount(3)));
        assertEquals(9, b.segmentFrom(3));
        // smaller and larger checkpoints reuse and grow the segments
        assertEquals(2, stageAndRead(b, pfns(2)).size());
        assertEquals(1, b.segmentCount());
        assertEquals(31, stageAndRead(b, pfns(31)).size());
        assertEquals(11, b.segmentCount());
    }

    @Test
    void aLargeCheckpointLetsGoOfItsExtraSegmentsWhenASmallerOneFollows() {
        StagingBuffer b = new StagingBuffer(PAGE, 1, 4L * PAGE);
        stageAndRead(b, pfns(30));
        assertEquals(8, b.segmentCount());
        assertEquals(30L * PAGE, b.capacityBytes());
        stageAndRead(b, pfns(3));
        assertEquals(4L * PAGE, b.capacityBytes(), "only the first segment stays");
    }

    /** The backup's side: batches of a stream, which straddle segments, read back in order and whole. */
    @Test
    void batchesAppendedOnTheBackupFillSegmentsInOrderAcrossTheirBoundaries() {
        StagingBuffer b = new StagingBuffer(PAGE, 1, 3L * PAGE);
        for (int round = 0; round < 2; round++) {
            b.clear();
            long[] all = pfns(17);
            int done = 0;
            for (int n : new int[] {2, 5, 1, 4, 5}) {
                ByteBuffer batch = ByteBuffer.allocate(n * PAGE + 16);
                batch.position(16); // a batch's pages start where its record's body puts them
                for (int p = 0; p < n; p++) {
                    for (int j = 0; j < PAGE / 8; j++) {
                        batch.putLong(all[done + p] * 31 + j);
                    }
                }
                batch.position(16);
                long[] batchPfns = java.util.Arrays.copyOfRange(all, done, done + n);
                b.append(batchPfns, n, batch);
                done += n;
            }
            assertEquals(17, b.pageCount());
            assertEquals(6, b.segmentCount());
            List<ByteBuffer> segments = b.segmentViews();
            int page = 0;
            for (ByteBuffer s : segments) {
                assertEquals(0, s.position());
                while (s.hasRemaining()) {
                    assertEquals(all[page], b.pfns()[page]);
                    for (int j = 0; j < PAGE / 8; j++) {
                        assertEquals(all[page] * 31 + j, s.getLong(), "page " + page + ", long " + j);
                    }
                    page++;
                }
            }
            assertEquals(17, page);
        }
    }

    /** More than the JVM's direct memory (this module's tests run with 1 GiB): refused at once, naming the setting. */
    @Test
    void aCheckpointBeyondTheDirectMemoryLimitIsRefusedWithTheSettingToRaise() {
        String limit = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                .getVMOption("MaxDirectMemorySize").getValue();
        long bytes = Long.parseLong(limit);
        assertTrue(bytes > 0 && bytes < (1L << 31) - PAGE, "the tests' JVM limits direct memory: " + limit);
        StagingBuffer b = new StagingBuffer(PAGE, 1, Integer.MAX_VALUE);
        long[] dirty = pfns((int) (bytes / PAGE) + 1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.prepare(dirty));
        assertTrue(e.getMessage().contains("ROMULUS_DIRECT_MEMORY"), e.getMessage());
    }

    @Test
    void noDirtyPagesIsOneEmptySegment() {
        StagingBuffer b = new StagingBuffer(PAGE, 64);
        b.prepare(new long[0]);
        assertEquals(1, b.segmentCount());
        assertEquals(0, b.segmentPageCount(0));
        assertEquals(0, b.pages(0).remaining());
    }

    @Test
    void theDefaultSegmentIsAGibibyteSoAnythingUpToThatIsOnePart() {
        StagingBuffer b = new StagingBuffer(PAGE, 64);
        assertEquals(100, stageAndRead(b, pfns(100)).size());
        assertEquals(1, b.segmentCount());
        assertEquals(StagingBuffer.DEFAULT_SEGMENT_BYTES / PAGE, b.segmentFrom(1));
    }
}
