package io.romulus.qemu.internal.dirty;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.util.List;

import org.junit.jupiter.api.Test;

class CompareDirtyTrackerTest {

    private static final int PAGE = 4096;

    private static void touch(ByteBuffer memory, int page, int offsetInPage) {
        int at = page * PAGE + offsetInPage;
        memory.put(at, (byte) (memory.get(at) + 1));
    }

    @Test
    void reportsExactlyTheChangedPagesOfAHeapBuffer() {
        ByteBuffer memory = ByteBuffer.allocate(256 * PAGE);
        try (CompareDirtyTracker tracker = new CompareDirtyTracker(memory, PAGE)) {
            assertEquals("compare", tracker.name());
            assertArrayEquals(new long[0], tracker.harvest());

            touch(memory, 3, 0);
            touch(memory, 7, PAGE - 1);  // last byte of a page
            touch(memory, 8, 17);
            touch(memory, 8, 900);       // twice in one page: reported once
            touch(memory, 100, 5);
            touch(memory, 255, PAGE - 1); // last byte of the buffer
            assertArrayEquals(new long[] {3, 7, 8, 100, 255}, tracker.harvest());

            touch(memory, 0, 0);
            touch(memory, 100, 6);
            assertArrayEquals(new long[] {0, 100}, tracker.harvest());
            assertArrayEquals(new long[0], tracker.harvest());
        }
    }

    @Test
    void worksOnADirectBufferSliceAndManyPages() {
        ByteBuffer whole = ByteBuffer.allocateDirect(1025 * PAGE);
        whole.position(PAGE); // track from the second page on: page numbers are relative to the position
        ByteBuffer memory = whole.slice();
        try (CompareDirtyTracker tracker = new CompareDirtyTracker(memory, PAGE)) {
            long[] expected = new long[300];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = i * 3L;
                touch(memory, i * 3, i % PAGE);
            }
            whole.put(0, (byte) 42); // outside the tracked range
            assertArrayEquals(expected, tracker.harvest());
            assertArrayEquals(new long[0], tracker.harvest());
        }
    }

    /** A guest larger than one buffer: its memory in slices, whose pages are numbered on across them. */
    @Test
    void numbersThePagesOfSeveralSlicesOnFromOneToTheNext() {
        ByteBuffer first = ByteBuffer.allocateDirect(16 * PAGE);
        ByteBuffer second = ByteBuffer.allocateDirect(16 * PAGE);
        ByteBuffer third = ByteBuffer.allocate(3 * PAGE);
        try (CompareDirtyTracker tracker = new CompareDirtyTracker(List.of(first, second, third), PAGE)) {
            assertArrayEquals(new long[0], tracker.harvest());
            touch(first, 15, PAGE - 1);
            touch(second, 0, 0);
            touch(second, 9, 100);
            touch(third, 2, PAGE - 1);
            assertArrayEquals(new long[] {15, 16, 25, 34}, tracker.harvest());
            touch(third, 0, 0);
            assertArrayEquals(new long[] {32}, tracker.harvest());
            assertArrayEquals(new long[0], tracker.harvest());
        }
    }

    @Test
    void rejectsASizeThatIsNotWholePages() {
        assertThrows(IllegalArgumentException.class, () -> new CompareDirtyTracker(ByteBuffer.allocate(PAGE + 1), PAGE));
    }
}
