package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;

/** CRC32C over a domain's or a replica's whole memory, page by page in pfn order (verify mode). */
final class MemoryDigest {

    private static final int BATCH = 256;

    private MemoryDigest() {
    }

    /** The primary's memory; call while paused. */
    static int of(ProtectedDomain domain) throws HypervisorException {
        long pages = domain.info().pageCount();
        int pageSize = domain.info().pageSize();
        ByteBuffer buffer = ByteBuffer.allocateDirect(BATCH * pageSize);
        long[] pfns = new long[BATCH];
        CRC32C crc = new CRC32C();
        for (long first = 0; first < pages; first += BATCH) {
            int n = (int) Math.min(BATCH, pages - first);
            for (int i = 0; i < n; i++) {
                pfns[i] = first + i;
            }
            buffer.clear();
            domain.copyPages(pfns, 0, n, buffer);
            buffer.flip();
            crc.update(buffer);
        }
        return (int) crc.getValue();
    }

    /** The replica's memory; call under the apply lock. */
    static int of(Replica replica) throws HypervisorException {
        long pages = replica.spec().pageCount();
        ByteBuffer page = ByteBuffer.allocateDirect(replica.spec().pageSize());
        CRC32C crc = new CRC32C();
        for (long pfn = 0; pfn < pages; pfn++) {
            page.clear();
            replica.readPage(pfn, page);
            page.flip();
            crc.update(page);
        }
        return (int) crc.getValue();
    }
}
