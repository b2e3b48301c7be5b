package io.romulus.xen.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import io.romulus.xen.internal.xc.XenCallException;
import io.romulus.xen.internal.xc.XenControl;
import io.romulus.xen.internal.xc.XenDomainInfo;

/**
 * A Xen hypervisor in memory, for tests of the binding on hosts without Xen: HVM domains with a pfn space that has
 * holes, shadow log-dirty semantics (CLEAN returns and clears, PEEK only returns), pause counting, an HVM context
 * whose CPU record carries a counter, HVM parameters and xenstore. Errors use Xen's errno values: ESRCH for a missing
 * domain, EFAULT for an unpopulated pfn. Thread-safe: a guest writer thread may run beside the epoch thread.
 *
 * <p>Log-dirty mode as Xen 4.17 and {@link io.romulus.xen.internal.xc.NativeXenControl} have it: ENABLE of a domain
 * that has log-dirty mode on is refused with EINVAL ({@code paging_log_dirty_enable}), which
 * {@link #enableLogDirtyIfOff} reports and {@link #enableLogDirty} answers as libxc's save does, off and on again
 * (the bitmap starts empty: counted in {@link Domain#logDirtyRestarts()}); CLEAN and PEEK of a domain without
 * log-dirty mode return no pages (Xen has no bitmap to read). {@link Domain#pausesEver()} counts
 * {@code xc_domain_pause} calls.
 */
public final class SimulatedXen implements XenControl {

    static final int ESRCH = 3;
    static final int EFAULT = 14;

    /** One simulated domain. */
    public static final class Domain {
        final int domid;
        final long pfnSpace;
        final BitSet populated = new BitSet();
        final byte[] memory;
        final BitSet dirty = new BitSet();
        boolean logDirty;
        int pauseCount;
        long contextCounter;
        final Map<Integer, Long> params = new TreeMap<>();
        final Map<String, String> xenstore = new TreeMap<>();
        int cleans;
        int pausesEver;
        int logDirtyRestarts;

        Domain(int domid, long pfnSpace) {
            this.domid = domid;
            this.pfnSpace = pfnSpace;
            this.memory = new byte[Math.toIntExact(pfnSpace * 4096)];
        }

        /** Makes pfns {@code start .. start+count-1} populated. */
        public synchronized Domain populate(long start, long count) {
            populated.set(Math.toIntExact(start), Math.toIntExact(start + count));
            return this;
        }

        /** The guest writes {@code value} at {@code offset} of page {@code pfn}; the dirty log sees it. */
        public synchronized void write(long pfn, int offset, byte value) {
            if (!populated.get(Math.toIntExact(pfn))) {
                throw new IllegalArgumentException("pfn " + pfn + " is not populated");
            }
            if (pauseCount > 0) {
                throw new IllegalStateException("a paused guest does not write");
            }
            memory[Math.toIntExact(pfn * 4096 + offset)] = value;
            if (logDirty) {
                dirty.set(Math.toIntExact(pfn));
            }
        }

        /** A copy of page {@code pfn} as the guest sees it. */
        public synchronized byte[] page(long pfn) {
            byte[] out = new byte[4096];
            System.arraycopy(memory, Math.toIntExact(pfn * 4096), out, 0, 4096);
            return out;
        }

        public synchronized boolean paused() {
            return pauseCount > 0;
        }

        public synchronized boolean logDirty() {
            return logDirty;
        }

        /** How often {@code xc_domain_pause} was called. */
        public synchronized int pausesEver() {
            return pausesEver;
        }

        /** How often log-dirty mode was turned off and on again by an ENABLE, which empties the bitmap. */
        public synchronized int logDirtyRestarts() {
            return logDirtyRestarts;
        }

        /** Advances what the next HVM context says (the vCPU ran). */
        public synchronized void tick() {
            contextCounter++;
        }

        public synchronized Domain param(int index, long value) {
            params.put(index, value);
            return this;
        }

        public synchronized Domain xenstore(String path, String value) {
            xenstore.put(path, value);
            return this;
        }
    }

    private final Map<Integer, Domain> domains = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** Adds HVM domain {@code domid} with pfns {@code 0 .. pfnSpace-1}, none populated yet. */
    public Domain add(int domid, long pfnSpace) {
        Domain d = new Domain(domid, pfnSpace);
        domains.put(domid, d);
        return d;
    }

    public Domain get(int domid) {
        return domains.get(domid);
    }

    public boolean closed() {
        return closed;
    }

    private Domain domainOrThrow(String call, int domid) throws XenCallException {
        Domain d = domains.get(domid);
        if (d == null) {
            throw new XenCallException(call + "(" + domid + "): No such process", ESRCH);
        }
        return d;
    }

    @Override
    public int[] version() {
        return new int[] {4, 17};
    }

    @Override
    public List<XenDomainInfo> domains() {
        List<XenDomainInfo> out = new ArrayList<>();
        for (Domain d : domains.values()) {
            out.add(info(d));
        }
        return out;
    }

    @Override
    public XenDomainInfo domain(int domid) throws XenCallException {
        return info(domainOrThrow("xc_domain_getinfolist", domid));
    }

    private static XenDomainInfo info(Domain d) {
        synchronized (d) {
            int flags = XenDomainInfo.HVM_GUEST | XenDomainInfo.HAP
                    | (d.pauseCount > 0 ? XenDomainInfo.PAUSED : XenDomainInfo.RUNNING);
            return new XenDomainInfo(d.domid, flags, d.populated.cardinality(), d.populated.cardinality(), 0, 1, 0,
                    new byte[16]);
        }
    }

    @Override
    public long maximumGpfn(int domid) throws XenCallException {
        Domain d = domainOrThrow("xc_domain_maximum_gpfn", domid);
        synchronized (d) {
            return d.populated.length() - 1L;
        }
    }

    @Override
    public void pause(int domid) throws XenCallException {
        Domain d = domainOrThrow("xc_domain_pause", domid);
        synchronized (d) {
            d.pauseCount++;
            d.pausesEver++;
        }
    }

    @Override
    public void unpause(int domid) throws XenCallException {
        Domain d = domainOrThrow("xc_domain_unpause", domid);
        synchronized (d) {
            if (d.pauseCount == 0) {
                throw new XenCallException("xc_domain_unpause(" + domid + "): not paused", 22);
            }
            d.pauseCount--;
        }
    }

    @Override
    public void enableLogDirty(int domid) throws XenCallException {
        Domain d = domainOrThrow("xc_shadow_control(ENABLE_LOGDIRTY)", domid);
        synchronized (d) {
            if (d.logDirty) {
                d.logDirtyRestarts++; // EINVAL, then OFF and ENABLE_LOGDIRTY again
            }
            d.logDirty = true;
            d.dirty.clear();
        }
    }

    @Override
    public boolean enableLogDirtyIfOff(int domid) throws XenCallException {
        Domain d = domainOrThrow("xc_shadow_control(ENABLE_LOGDIRTY)", domid);
        synchronized (d) {
            if (d.logDirty) {
                return false; // paging_log_dirty_enable: -EINVAL
            }
            d.logDirty = true;
            d.dirty.clear();
            return true;
        }
    }

    @Override
    public void disableLogDirty(int domid) throws XenCallException {
        Domain d = domainOrThrow("xc_shadow_control(OFF)", domid);
        synchronized (d) {
            d.logDirty = false;
            d.dirty.clear();
        }
    }

    @Override
    public long[] cleanLogDirty(int domid, long pages, boolean finalRound) throws XenCallException {
        Domain d = domainOrThrow("xc_logdirty_control(CLEAN)", domid);
        synchronized (d) {
            long[] out = peek(d, pages);
            d.dirty.clear();
            d.cleans++;
            return out;
        }
    }

    @Override
    public long[] peekLogDirty(int domid, long pages) throws XenCallException {
        Domain d = domainOrThrow("xc_logdirty_control(PEEK)", domid);
        synchronized (d) {
            return peek(d, pages);
        }
    }

    private static long[] peek(Domain d, long pages) {
        return d.dirty.get(0, Math.toIntExact(pages)).stream().mapToLong(i -> i).toArray();
    }

    @Override
    public int copyPages(int domid, long[] pfns, int from, int count, ByteBuffer dst, int[] errors)
            throws XenCallException {
        Domain d = domainOrThrow("xenforeignmemory_map", domid);
        int failed = 0;
        synchronized (d) {
            for (int i = 0; i < count; i++) {
                long pfn = pfns[from + i];
                if (pfn >= 0 && pfn < d.pfnSpace && d.populated.get(Math.toIntExact(pfn))) {
                    dst.put(d.memory, Math.toIntExact(pfn * 4096), 4096);
                    errors[i] = 0;
                } else {
                    dst.put(new byte[4096]);
                    errors[i] = EFAULT;
                    failed++;
                }
            }
        }
        return failed;
    }

    /**
     * An HVM context as Xen lays it out: a HEADER record (typecode 1), one CPU record (typecode 2, instance 0) whose
     * first eight bytes carry the domain's counter, and END (typecode 0).
     */
    @Override
    public byte[] hvmContext(int domid) throws XenCallException {
        Domain d = domainOrThrow("xc_domain_hvm_getcontext", domid);
        ByteBuffer b = ByteBuffer.allocate(8 + 24 + 8 + 1024 + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) 1).putShort((short) 0).putInt(24);
        b.putInt(0x54381286).putInt(1).putLong(0).putInt(0).putInt(0);
        b.putShort((short) 2).putShort((short) 0).putInt(1024);
        synchronized (d) {
            b.putLong(d.contextCounter);
        }
        b.position(b.position() + 1016);
        b.putShort((short) 0).putShort((short) 0).putInt(0);
        return b.array();
    }

    @Override
    public long hvmParam(int domid, int param) throws XenCallException {
        Domain d = domainOrThrow("xc_hvm_param_get", domid);
        synchronized (d) {
            return d.params.getOrDefault(param, 0L);
        }
    }

    @Override
    public TscInfo tscInfo(int domid) throws XenCallException {
        domainOrThrow("xc_domain_get_tsc_info", domid);
        return new TscInfo(0, 2_000_000, 123_456_789L, 1);
    }

    @Override
    public CpuPolicy cpuPolicy(int domid) throws XenCallException {
        domainOrThrow("xc_cpu_policy_get_domain", domid);
        ByteBuffer leaves = ByteBuffer.allocate(48).order(ByteOrder.LITTLE_ENDIAN);
        leaves.putInt(0).putInt(0xffffffff).putInt(0xd).putInt(0x756e6547).putInt(0x6c65746e).putInt(0x49656e69);
        leaves.putInt(1).putInt(0xffffffff).putInt(0x806f8).putInt(0).putInt(0).putInt(0);
        ByteBuffer msrs = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        msrs.putInt(0xce).putInt(0).putLong(0);
        return new CpuPolicy(leaves.array(), msrs.array());
    }

    @Override
    public List<String> xenstoreDirectory(String path) {
        String prefix = path.endsWith("/") ? path : path + "/";
        List<String> out = new ArrayList<>();
        for (Domain d : domains.values()) {
            synchronized (d) {
                for (String key : d.xenstore.keySet()) {
                    if (key.startsWith(prefix)) {
                        String child = key.substring(prefix.length()).split("/")[0];
                        if (!out.contains(child)) {
                            out.add(child);
                        }
                    }
                }
            }
        }
        return out;
    }

    @Override
    public String xenstoreRead(String path) {
        for (Domain d : domains.values()) {
            synchronized (d) {
                String v = d.xenstore.get(path);
                if (v != null) {
                    return v;
                }
            }
        }
        return null;
    }

    @Override
    public void close() {
        closed = true;
    }
}
