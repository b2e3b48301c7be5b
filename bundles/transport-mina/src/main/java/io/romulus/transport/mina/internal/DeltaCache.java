package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The last version of each page sent on one connection, for {@code XOR_DELTA}. Direct-mapped: slot
 * {@code pfn mod slots} holds one page, so memory is bounded by {@code slots * pageSize}. Both ends of a connection
 * hold one with the same geometry and update it identically for every page sent or received, so the sender's view
 * ("the receiver has this version of pfn") is always the receiver's. Slots are allocated on first use.
 */
public final class DeltaCache {

    private final int pageSize;
    private final long[] keys;
    private final byte[][] slots;

    /** @param capacityBytes at most this many bytes of pages; {@code 0} disables delta encoding */
    public DeltaCache(long capacityBytes, int pageSize) {
        this.pageSize = pageSize;
        int count = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(0, capacityBytes / pageSize));
        this.keys = new long[count];
        Arrays.fill(keys, -1L);
        this.slots = new byte[count][];
    }

    public int slotCount() {
        return keys.length;
    }

    private int slot(long pfn) {
        return (int) Long.remainderUnsigned(pfn, keys.length);
    }

    /** The cached version of {@code pfn}, or {@code null}. The array must not be modified. */
    public byte[] get(long pfn) {
        if (keys.length == 0 || pfn < 0) {
            return null;
        }
        int s = slot(pfn);
        return keys[s] == pfn ? slots[s] : null;
    }

    /** Records that the peer now has {@code pageSize} bytes from {@code page}'s position as {@code pfn}. */
    public void put(long pfn, ByteBuffer page) {
        if (keys.length == 0 || pfn < 0) {
            return;
        }
        int s = slot(pfn);
        byte[] data = slots[s];
        if (data == null) {
            data = new byte[pageSize];
            slots[s] = data;
        }
        page.duplicate().get(data, 0, pageSize);
        keys[s] = pfn;
    }

    /** Records a zero page. */
    public void putZero(long pfn) {
        if (keys.length == 0 || pfn < 0) {
            return;
        }
        int s = slot(pfn);
        if (slots[s] == null) {
            slots[s] = new byte[pageSize];
        } else {
            Arrays.fill(slots[s], (byte) 0);
        }
        keys[s] = pfn;
    }
}
