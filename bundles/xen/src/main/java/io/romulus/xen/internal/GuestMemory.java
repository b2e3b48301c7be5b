package io.romulus.xen.internal;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.xen.internal.xc.XenControl;

/**
 * The populated page frames of a Xen guest, numbered densely. An HVM guest's pfn space has holes (the MMIO hole
 * below 4 GiB, the special pages near it are populated, the rest is not), so the engine's page {@code i} (a
 * <em>slot</em>) is the {@code i}-th populated guest pfn: the engine and the replica image only ever hold populated
 * memory, and the replica's PAGE_DATA records carry the real pfns. The layout is fixed while a domain is protected;
 * a guest that balloons memory in or out breaks it, and the binding says so.
 */
final class GuestMemory {

    /** Pages mapped per probe while scanning: libxc's batch size. */
    static final int BATCH = 1024;
    static final int PAGE_SIZE = 4096;

    private final long[] starts;
    private final long[] firstSlot;
    private final long[] counts;
    private final long slots;
    private final long pfnSpace;

    GuestMemory(long[] ranges, long pfnSpace) {
        if (ranges.length == 0 || ranges.length % 2 != 0) {
            throw new IllegalArgumentException("ranges are pairs start, count, at least one");
        }
        int n = ranges.length / 2;
        starts = new long[n];
        counts = new long[n];
        firstSlot = new long[n];
        long slot = 0;
        long end = -1;
        for (int i = 0; i < n; i++) {
            starts[i] = ranges[2 * i];
            counts[i] = ranges[2 * i + 1];
            if (starts[i] <= end || counts[i] <= 0) {
                throw new IllegalArgumentException("ranges must be ascending, disjoint and non-empty: "
                        + Arrays.toString(ranges));
            }
            end = starts[i] + counts[i] - 1;
            firstSlot[i] = slot;
            slot += counts[i];
        }
        slots = slot;
        this.pfnSpace = pfnSpace;
    }

    /**
     * Finds the populated pfns of {@code domid} by mapping every pfn up to its maximum once: a pfn that cannot be
     * mapped is not populated. Runs while the guest runs; population does not change under a guest that does not
     * balloon.
     */
    static GuestMemory scan(XenControl xc, int domid) throws HypervisorException {
        long max = xc.maximumGpfn(domid);
        ByteBuffer scratch = ByteBuffer.allocateDirect(BATCH * PAGE_SIZE);
        long[] pfns = new long[BATCH];
        int[] errors = new int[BATCH];
        List<Long> ranges = new ArrayList<>();
        long runStart = -1;
        for (long base = 0; base <= max; base += BATCH) {
            int n = (int) Math.min(BATCH, max + 1 - base);
            for (int i = 0; i < n; i++) {
                pfns[i] = base + i;
            }
            scratch.clear();
            xc.copyPages(domid, pfns, 0, n, scratch, errors);
            for (int i = 0; i < n; i++) {
                long pfn = base + i;
                if (errors[i] == 0 && runStart < 0) {
                    runStart = pfn;
                } else if (errors[i] != 0 && runStart >= 0) {
                    ranges.add(runStart);
                    ranges.add(pfn - runStart);
                    runStart = -1;
                }
            }
        }
        if (runStart >= 0) {
            ranges.add(runStart);
            ranges.add(max + 1 - runStart);
        }
        if (ranges.isEmpty()) {
            throw new HypervisorException("domain " + domid + " has no page that can be mapped (pfns 0.." + max + ")");
        }
        return new GuestMemory(ranges.stream().mapToLong(Long::longValue).toArray(), max + 1);
    }

    /** Populated pages: the engine's page count. */
    long slots() {
        return slots;
    }

    /** Guest pfns {@code 0 .. pfnSpace-1}: what the dirty bitmap covers. */
    long pfnSpace() {
        return pfnSpace;
    }

    /** The ranges as pairs {@code start, count}. */
    long[] ranges() {
        long[] out = new long[starts.length * 2];
        for (int i = 0; i < starts.length; i++) {
            out[2 * i] = starts[i];
            out[2 * i + 1] = counts[i];
        }
        return out;
    }

    /** The guest pfn of slot {@code slot}. */
    long pfn(long slot) {
        int i = Arrays.binarySearch(firstSlot, slot);
        if (i < 0) {
            i = -i - 2;
        }
        if (slot < 0 || slot >= slots) {
            throw new IllegalArgumentException("slot " + slot + " outside 0.." + (slots - 1));
        }
        return starts[i] + (slot - firstSlot[i]);
    }

    /** The slot of guest pfn {@code pfn}, or {@code -1} when the pfn is not populated. */
    long slot(long pfn) {
        int i = Arrays.binarySearch(starts, pfn);
        if (i < 0) {
            i = -i - 2;
        }
        if (i < 0 || pfn >= starts[i] + counts[i]) {
            return -1;
        }
        return firstSlot[i] + (pfn - starts[i]);
    }
}
