package io.romulus.sim.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

class SimMemoryTest {

    @Test
    void pagesSpreadOverChunksAndCompareByteForByte() {
        // 10 pages in chunks of 4 pages: 3 chunks, the last one short
        SimMemory a = new SimMemory(10 * 4096L, 4 * 4096L);
        SimMemory b = new SimMemory(10 * 4096L, 8 * 4096L);
        assertEquals(3, a.chunkCount());
        for (long pfn = 0; pfn < 10; pfn++) {
            a.putLong(pfn, 4088, pfn * 31);
        }
        ByteBuffer page = ByteBuffer.allocate(4096);
        for (long pfn = 0; pfn < 10; pfn++) {
            page.clear();
            a.readPage(pfn, page);
            page.flip();
            b.writePage(pfn, page);
            assertEquals(pfn * 31, b.getLong(pfn, 4088));
        }
        assertEquals(-1, a.firstDifference(b));
        assertEquals(a.digest(), b.digest());
        b.putLong(7, 0, 1);
        assertEquals(7, a.firstDifference(b));
        assertNotEquals(a.digest(), b.digest());
        assertThrows(IndexOutOfBoundsException.class, () -> a.putLong(10, 0, 1));
    }
}
