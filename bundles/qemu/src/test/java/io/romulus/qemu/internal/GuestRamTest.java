package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The RAM of a guest larger than one mapping chunk (1 GiB): a sparse file, so nothing of it is touched but a page. */
class GuestRamTest {

    private static final int PAGE = 4096;

    @Test
    void theViewsOfARamLargerThanAChunkCoverItAllInOrder(@TempDir Path dir) throws Exception {
        long bytes = (1L << 30) + 2 * PAGE;
        GuestRam ram = GuestRam.create(dir.resolve("ram"), bytes, PAGE);
        ByteBuffer page = ByteBuffer.allocate(PAGE);
        page.putLong(0, 0x1a96e_0001L);
        long first = (1L << 30) / PAGE; // the first page of the second chunk
        ram.copyIn(new long[] {first + 1}, 0, 1, page);

        List<ByteBuffer> views = ram.views();
        assertEquals(2, views.size());
        assertEquals(1L << 30, views.get(0).remaining());
        assertEquals(2 * PAGE, views.get(1).remaining());
        assertEquals(0x1a96e_0001L, views.get(1).getLong(PAGE), "page " + (first + 1) + " is the second chunk's second");
    }
}
