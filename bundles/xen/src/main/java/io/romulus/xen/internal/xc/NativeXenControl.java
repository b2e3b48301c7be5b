package io.romulus.xen.internal.xc;

import static io.romulus.support.linux.Errno.EINVAL;
import static io.romulus.support.linux.Errno.ENOENT;
import static io.romulus.support.linux.Errno.ENOMEM;
import static io.romulus.support.linux.Errno.ENOSPC;
import static io.romulus.support.linux.Errno.ESRCH;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import java.nio.ByteBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

import io.romulus.support.linux.Errno;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link XenControl} through JNA: libxenctrl and libxenguest for domains, dirty logging, HVM context and CPU
 * policy, libxenforeignmemory for page copies, libxenstore for xenstore. Get one with {@link #open()}, which loads
 * the libraries and opens one handle on each; {@link #close()} gives them back.
 *
 * <p>Threads: the engine drives each protected domain from one epoch thread, and that is what this class is built
 * for. The handles are shared and the Xen libraries allow concurrent calls on them, so calls for different domains
 * may run at the same time. What belongs to one domain (its dirty-bitmap hypercall buffer, reused on every harvest,
 * and the batch arrays of {@link #copyPages}) is guarded by a lock on that domain's state, so a second thread
 * working on the same domain waits rather than corrupting them. {@link #close()} must not race with calls: the
 * owner closes it after its epoch threads have stopped.
 *
 * <p>Why one class of some 600 lines: it is the Java side of one ABI, the Xen 4.17 libraries under one set of handles.
 * The 1:1 bindings are apart already ({@link LibXenCtrl}, {@link LibXenGuest}, {@link LibXenForeignMemory},
 * {@link LibXenStore}, with the structs in {@link XenAbi}), and so is loading them ({@link XenLibraries}); what is
 * left here is, for each call of {@link XenControl}, the handle it needs, the buffers it reuses per domain and the
 * errno it turns into a {@link XenCallException}. Split by call family, the classes would share the handles, the
 * per-domain state and its lock, the errno translation and the closed check, and a reader checking one call against
 * libxenctrl's headers would have to follow it through several of them.
 */
public final class NativeXenControl implements XenControl {

    private static final Logger LOG = LoggerFactory.getLogger(NativeXenControl.class);

    /** Pages mapped by one {@code xenforeignmemory_map}. */
    static final int MAP_BATCH = 1024;
    /** Domains read by one {@code xc_domain_getinfolist}. */
    private static final int GETINFO_BATCH = 256;

    private static final ByteBuffer ZERO_PAGE = ByteBuffer.allocateDirect(XenAbi.XC_PAGE_SIZE).asReadOnlyBuffer();

    private final XenLibraries libs;
    private final Pointer xch;
    private final Pointer fmem;
    private final Pointer xsh;
    private final Map<Integer, DomainState> domainStates = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private NativeXenControl(XenLibraries libs, Pointer xch, Pointer fmem, Pointer xsh) {
        this.libs = libs;
        this.xch = xch;
        this.fmem = fmem;
        this.xsh = xsh;
    }

    /**
     * Loads the libraries and opens the Xen control interface, foreign memory and xenstore.
     *
     * @throws XenCallException when a library is missing (naming the Debian package), when this host is not Xen's
     *                          dom0 (saying what is missing), or when a handle cannot be opened
     */
    public static NativeXenControl open() throws XenCallException {
        XenLibraries libs = XenLibraries.load();
        Pointer xch = libs.ctrl().xc_interface_open(null, null, 0);
        if (xch == null) {
            int errno = Native.getLastError();
            throw new XenCallException(XenLibraries.notRunningOnXen(XenLibraries.PROC_XEN_CAPABILITIES,
                    XenLibraries.DEV_XEN_PRIVCMD, errno)
                    + " [xc_interface_open: " + errnoText(errno) + "]", errno);
        }
        Pointer fmem = libs.fmem().xenforeignmemory_open(null, 0);
        if (fmem == null) {
            XenCallException e = fail("xenforeignmemory_open", "cannot open Xen foreign memory (/dev/xen/privcmd)");
            libs.ctrl().xc_interface_close(xch);
            throw e;
        }
        Pointer xsh = libs.store().xs_open(0);
        if (xsh == null) {
            XenCallException e = fail("xs_open", "cannot connect to xenstore (is xenstored running in dom0?)");
            libs.fmem().xenforeignmemory_close(fmem);
            libs.ctrl().xc_interface_close(xch);
            throw e;
        }
        NativeXenControl xc = new NativeXenControl(libs, xch, fmem, xsh);
        try {
            int[] version = xc.version();
            LOG.info("Connected to Xen {}.{} through {}", version[0], version[1], XenLibraries.LIBXENCTRL);
        } catch (XenCallException e) {
            xc.close();
            throw e;
        }
        return xc;
    }

    // ---- domains ----

    @Override
    public int[] version() throws XenCallException {
        int rc = libs.ctrl().xc_version(xch(), XenAbi.XENVER_VERSION, null);
        if (rc < 0) {
            throw fail("xc_version(XENVER_version)", "cannot read Xen's version");
        }
        return new int[] {rc >>> 16, rc & 0xffff};
    }

    @Override
    public List<XenDomainInfo> domains() throws XenCallException {
        List<XenDomainInfo> all = new ArrayList<>();
        try (Memory buf = new Memory((long) GETINFO_BATCH * XenAbi.DOMAININFO_SIZE)) {
            int first = 0;
            while (true) {
                int n = libs.ctrl().xc_domain_getinfolist(xch(), first, GETINFO_BATCH, buf);
                if (n < 0) {
                    throw fail("xc_domain_getinfolist", "cannot list domains from " + first);
                }
                ByteBuffer b = buf.getByteBuffer(0, buf.size());
                for (int i = 0; i < n; i++) {
                    all.add(XenAbi.decodeDomainInfo(b, i));
                }
                if (n < GETINFO_BATCH) {
                    return all;
                }
                first = all.get(all.size() - 1).domid() + 1;
            }
        }
    }

    @Override
    public XenDomainInfo domain(int domid) throws XenCallException {
        try (Memory buf = new Memory(XenAbi.DOMAININFO_SIZE)) {
            int n = libs.ctrl().xc_domain_getinfolist(xch(), domid, 1, buf);
            if (n < 0) {
                throw fail("xc_domain_getinfolist", "cannot read domain " + domid);
            }
            XenDomainInfo info = n == 0 ? null : XenAbi.decodeDomainInfo(buf.getByteBuffer(0, buf.size()), 0);
            if (info == null || info.domid() != domid) {
                throw new XenCallException("there is no domain " + domid + " [xc_domain_getinfolist]", ESRCH);
            }
            return info;
        }
    }

    @Override
    public long maximumGpfn(int domid) throws XenCallException {
        LongByReference gpfns = new LongByReference();
        if (libs.ctrl().xc_domain_maximum_gpfn(xch(), domid, gpfns) != 0) {
            throw fail("xc_domain_maximum_gpfn", "cannot read the highest pfn of domain " + domid);
        }
        return gpfns.getValue();
    }

    @Override
    public void pause(int domid) throws XenCallException {
        if (libs.ctrl().xc_domain_pause(xch(), domid) != 0) {
            throw fail("xc_domain_pause", "cannot pause domain " + domid);
        }
    }

    @Override
    public void unpause(int domid) throws XenCallException {
        if (libs.ctrl().xc_domain_unpause(xch(), domid) != 0) {
            throw fail("xc_domain_unpause", "cannot unpause domain " + domid);
        }
    }

    // ---- dirty logging ----

    /**
     * Log-dirty on. If Xen refuses because log-dirty is already on for part of the memory (QEMU's VRAM tracking
     * turns it on for the framebuffer), it is turned off and on again, as libxc's save does.
     */
    @Override
    public void enableLogDirty(int domid) throws XenCallException {
        LibXenCtrl ctrl = libs.ctrl();
        if (ctrl.xc_shadow_control(xch(), domid, XenAbi.XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, null, 0) == 0) {
            return;
        }
        int first = Native.getLastError();
        LOG.debug("Domain {}: log-dirty refused ({}); turning shadow mode off and trying again", domid,
                errnoText(first));
        if (ctrl.xc_shadow_control(xch(), domid, XenAbi.XEN_DOMCTL_SHADOW_OP_OFF, null, 0) != 0
                || ctrl.xc_shadow_control(xch(), domid, XenAbi.XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, null, 0) != 0) {
            throw fail("xc_shadow_control(ENABLE_LOGDIRTY)", "cannot turn log-dirty on for domain " + domid
                    + " (first attempt: " + errnoText(first) + ")");
        }
    }

    @Override
    public boolean enableLogDirtyIfOff(int domid) throws XenCallException {
        if (libs.ctrl().xc_shadow_control(xch(), domid, XenAbi.XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, null, 0) == 0) {
            return true;
        }
        int errno = Native.getLastError();
        if (errno == EINVAL) {
            return false;
        }
        throw new XenCallException("cannot turn log-dirty on for domain " + domid
                + " [xc_shadow_control(ENABLE_LOGDIRTY): " + errnoText(errno) + "]", errno);
    }

    @Override
    public void disableLogDirty(int domid) throws XenCallException {
        if (libs.ctrl().xc_shadow_control(xch(), domid, XenAbi.XEN_DOMCTL_SHADOW_OP_OFF, null, 0) != 0) {
            throw fail("xc_shadow_control(OFF)", "cannot turn log-dirty off for domain " + domid);
        }
        DomainState state = domainStates.get(domid);
        if (state != null) {
            synchronized (state) {
                freeBitmap(state);
            }
        }
    }

    @Override
    public long[] cleanLogDirty(int domid, long pages, boolean finalRound) throws XenCallException {
        return harvest(domid, pages, XenAbi.XEN_DOMCTL_SHADOW_OP_CLEAN,
                finalRound ? XenAbi.XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL : 0, finalRound ? "CLEAN, final" : "CLEAN");
    }

    @Override
    public long[] peekLogDirty(int domid, long pages) throws XenCallException {
        return harvest(domid, pages, XenAbi.XEN_DOMCTL_SHADOW_OP_PEEK, 0, "PEEK");
    }

    private long[] harvest(int domid, long pages, int op, int mode, String opName) throws XenCallException {
        if (pages <= 0) {
            throw new IllegalArgumentException("a dirty bitmap needs at least one page, not " + pages);
        }
        DomainState state = state(domid);
        synchronized (state) {
            ensureBitmap(state, pages);
            long covered = libs.ctrl().xc_logdirty_control(xch(), domid, op, state.bitmapBuffer, pages, mode,
                    state.stats);
            if (covered < 0) {
                throw fail("xc_logdirty_control(" + opName + ")", "cannot read the dirty bitmap of domain " + domid);
            }
            long[] pfns = dirtyPfns(state.bitmapWords, Math.min(covered, pages));
            if (LOG.isTraceEnabled()) {
                LOG.trace("Domain {}: {} of {} pages dirty ({}, Xen counted {} dirty, {} faults)", domid, pfns.length,
                        covered, opName, Integer.toUnsignedLong(state.stats.getInt(XenAbi.SHADOW_OP_STATS_DIRTY_COUNT)),
                        Integer.toUnsignedLong(state.stats.getInt(XenAbi.SHADOW_OP_STATS_FAULT_COUNT)));
            }
            return pfns;
        }
    }

    /**
     * The set bits among the first {@code bits} of a little-endian bitmap, as ascending pfns: bit {@code b} of
     * 64-bit word {@code w} is pfn {@code 64 w + b}.
     */
    static long[] dirtyPfns(LongBuffer words, long bits) {
        int nWords = (int) ((bits + 63) >>> 6);
        long lastMask = (bits & 63) == 0 ? -1L : (1L << (bits & 63)) - 1;
        int count = 0;
        for (int i = 0; i < nWords; i++) {
            long w = words.get(i);
            count += Long.bitCount(i == nWords - 1 ? w & lastMask : w);
        }
        long[] pfns = new long[count];
        int n = 0;
        for (int i = 0; n < count; i++) {
            long w = words.get(i);
            if (i == nWords - 1) {
                w &= lastMask;
            }
            long base = (long) i << 6;
            while (w != 0) {
                pfns[n++] = base + Long.numberOfTrailingZeros(w);
                w &= w - 1;
            }
        }
        return pfns;
    }

    /** Makes sure the domain has a hypercall buffer for {@code pages} bits; reused until it is too small. */
    private void ensureBitmap(DomainState state, long pages) throws XenCallException {
        int nrPages = XenAbi.bitmapPages(pages);
        if (state.bitmapBuffer != null && state.bitmapPages >= nrPages) {
            return;
        }
        freeBitmap(state);
        Memory buffer = new Memory(XenAbi.HYPERCALL_BUFFER_SIZE);
        XenAbi.declareHypercallBuffer(buffer.getByteBuffer(0, buffer.size()));
        Pointer hbuf = libs.ctrl().xc__hypercall_buffer_alloc_pages(xch(), buffer, nrPages);
        if (hbuf == null) {
            XenCallException e = fail("xc__hypercall_buffer_alloc_pages", "cannot allocate " + nrPages
                    + " pages of hypercall memory for the dirty bitmap of domain " + state.domid);
            buffer.close();
            throw e;
        }
        state.bitmapBuffer = buffer;
        state.bitmapPages = nrPages;
        state.bitmapWords = hbuf.getByteBuffer(0, (long) nrPages * XenAbi.XC_PAGE_SIZE).order(XenAbi.ORDER)
                .asLongBuffer();
        LOG.debug("Domain {}: dirty bitmap of {} pages for {} guest pages", state.domid, nrPages, pages);
    }

    private void freeBitmap(DomainState state) {
        if (state.bitmapBuffer == null) {
            return;
        }
        libs.ctrl().xc__hypercall_buffer_free_pages(xch, state.bitmapBuffer, state.bitmapPages);
        state.bitmapBuffer.close();
        state.bitmapBuffer = null;
        state.bitmapWords = null;
        state.bitmapPages = 0;
    }

    // ---- foreign memory ----

    @Override
    public int copyPages(int domid, long[] pfns, int from, int count, ByteBuffer dst, int[] errors)
            throws XenCallException {
        Objects.checkFromIndexSize(from, count, pfns.length);
        if (errors.length < count) {
            throw new IllegalArgumentException("errors has room for " + errors.length + " pages, not " + count);
        }
        if (dst.remaining() < (long) count * XenAbi.XC_PAGE_SIZE) {
            throw new IllegalArgumentException("dst has room for " + dst.remaining() / XenAbi.XC_PAGE_SIZE
                    + " pages, not " + count);
        }
        DomainState state = state(domid);
        synchronized (state) {
            int failed = 0;
            for (int done = 0; done < count; ) {
                int n = Math.min(MAP_BATCH, count - done);
                state.pfnBatch.write(0, pfns, from + done, n);
                Pointer addr = libs.fmem().xenforeignmemory_map(fmem(), domid, XenAbi.PROT_READ, n, state.pfnBatch,
                        state.errBatch);
                if (addr == null) {
                    throw fail("xenforeignmemory_map", "cannot map " + n + " pages of domain " + domid
                            + " from pfn 0x" + Long.toHexString(pfns[from + done]));
                }
                int unmapped;
                int unmapErrno = 0;
                try {
                    state.errBatch.read(0, state.errs, 0, n);
                    failed += copyBatch(addr, state.errs, n, dst, errors, done);
                } finally {
                    unmapped = libs.fmem().xenforeignmemory_unmap(fmem(), addr, n);
                    if (unmapped != 0) {
                        unmapErrno = Native.getLastError();
                    }
                }
                if (unmapped != 0) {
                    throw new XenCallException("cannot unmap " + n + " pages of domain " + domid
                            + " [xenforeignmemory_unmap: " + errnoText(unmapErrno) + "]", unmapErrno);
                }
                done += n;
            }
            return failed;
        }
    }

    /**
     * Copies one mapped batch into {@code dst}: runs of mapped pages in one bulk copy each, pages that could not be
     * mapped as zeros with their (positive) errno in {@code errors[offset + i]}.
     */
    static int copyBatch(Pointer addr, int[] errs, int n, ByteBuffer dst, int[] errors, int offset) {
        int failed = 0;
        int i = 0;
        while (i < n) {
            if (errs[i] != 0) {
                errors[offset + i] = Math.abs(errs[i]);
                dst.put(ZERO_PAGE.duplicate());
                failed++;
                i++;
                continue;
            }
            int j = i;
            while (j < n && errs[j] == 0) {
                errors[offset + j] = 0;
                j++;
            }
            dst.put(addr.getByteBuffer((long) i * XenAbi.XC_PAGE_SIZE, (long) (j - i) * XenAbi.XC_PAGE_SIZE));
            i = j;
        }
        return failed;
    }

    // ---- HVM state ----

    @Override
    public byte[] hvmContext(int domid) throws XenCallException {
        for (int attempt = 0; ; attempt++) {
            int size = libs.ctrl().xc_domain_hvm_getcontext(xch(), domid, null, 0);
            if (size < 0) {
                throw fail("xc_domain_hvm_getcontext", "cannot read the HVM context size of domain " + domid);
            }
            byte[] buf = new byte[size];
            int got = libs.ctrl().xc_domain_hvm_getcontext(xch(), domid, buf, size);
            if (got >= 0) {
                return got == size ? buf : Arrays.copyOf(buf, got);
            }
            if (attempt > 0 || Native.getLastError() != ENOSPC) {
                throw fail("xc_domain_hvm_getcontext", "cannot read the HVM context of domain " + domid);
            }
            LOG.debug("Domain {}: HVM context grew past {} bytes; asking its size again", domid, size);
        }
    }

    @Override
    public long hvmParam(int domid, int param) throws XenCallException {
        LongByReference value = new LongByReference();
        if (libs.ctrl().xc_hvm_param_get(xch(), domid, param, value) != 0) {
            throw fail("xc_hvm_param_get", "cannot read HVM parameter " + param + " of domain " + domid);
        }
        return value.getValue();
    }

    @Override
    public TscInfo tscInfo(int domid) throws XenCallException {
        IntByReference mode = new IntByReference();
        LongByReference nsec = new LongByReference();
        IntByReference khz = new IntByReference();
        IntByReference incarnation = new IntByReference();
        if (libs.ctrl().xc_domain_get_tsc_info(xch(), domid, mode, nsec, khz, incarnation) != 0) {
            throw fail("xc_domain_get_tsc_info", "cannot read the TSC settings of domain " + domid);
        }
        return new TscInfo(mode.getValue(), khz.getValue(), nsec.getValue(), incarnation.getValue());
    }

    @Override
    public CpuPolicy cpuPolicy(int domid) throws XenCallException {
        LibXenGuest guest = libs.guest();
        IntByReference nrLeaves = new IntByReference();
        IntByReference nrMsrs = new IntByReference();
        if (guest.xc_cpu_policy_get_size(xch(), nrLeaves, nrMsrs) != 0) {
            throw fail("xc_cpu_policy_get_size", "cannot read the size of Xen's CPU policies");
        }
        Pointer policy = guest.xc_cpu_policy_init();
        if (policy == null) {
            throw new XenCallException("cannot allocate a CPU policy [xc_cpu_policy_init: " + errnoText(ENOMEM) + "]",
                    ENOMEM);
        }
        long leavesSize = Integer.toUnsignedLong(nrLeaves.getValue()) * XenAbi.CPUID_LEAF_SIZE;
        long msrsSize = Integer.toUnsignedLong(nrMsrs.getValue()) * XenAbi.MSR_ENTRY_SIZE;
        try (Memory leaves = new Memory(Math.max(1, leavesSize)); Memory msrs = new Memory(Math.max(1, msrsSize))) {
            if (guest.xc_cpu_policy_get_domain(xch(), domid, policy) != 0) {
                throw fail("xc_cpu_policy_get_domain", "cannot read the CPU policy of domain " + domid);
            }
            // in: the capacity of each array; out: how many entries were written
            if (guest.xc_cpu_policy_serialise(xch(), policy, leaves, nrLeaves, msrs, nrMsrs) != 0) {
                throw fail("xc_cpu_policy_serialise", "cannot serialise the CPU policy of domain " + domid);
            }
            return new CpuPolicy(
                    leaves.getByteArray(0, nrLeaves.getValue() * XenAbi.CPUID_LEAF_SIZE),
                    msrs.getByteArray(0, nrMsrs.getValue() * XenAbi.MSR_ENTRY_SIZE));
        } finally {
            guest.xc_cpu_policy_destroy(policy);
        }
    }

    // ---- xenstore ----

    @Override
    public List<String> xenstoreDirectory(String path) throws XenCallException {
        IntByReference num = new IntByReference();
        Pointer entries = libs.store().xs_directory(xsh(), XenAbi.XBT_NULL, path, num);
        if (entries == null) {
            if (Native.getLastError() == ENOENT) {
                return List.of();
            }
            throw fail("xs_directory", "cannot list xenstore directory " + path);
        }
        try {
            List<String> names = new ArrayList<>(num.getValue());
            for (Pointer name : entries.getPointerArray(0, num.getValue())) {
                names.add(name.getString(0, StandardCharsets.UTF_8.name()));
            }
            return names;
        } finally {
            Native.free(Pointer.nativeValue(entries));
        }
    }

    @Override
    public String xenstoreRead(String path) throws XenCallException {
        IntByReference len = new IntByReference();
        Pointer value = libs.store().xs_read(xsh(), XenAbi.XBT_NULL, path, len);
        if (value == null) {
            if (Native.getLastError() == ENOENT) {
                return null;
            }
            throw fail("xs_read", "cannot read xenstore node " + path);
        }
        try {
            return new String(value.getByteArray(0, len.getValue()), StandardCharsets.UTF_8);
        } finally {
            Native.free(Pointer.nativeValue(value));
        }
    }

    // ---- lifecycle ----

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        for (DomainState state : domainStates.values()) {
            synchronized (state) {
                freeBitmap(state);
                state.stats.close();
                state.pfnBatch.close();
                state.errBatch.close();
            }
        }
        domainStates.clear();
        closed = true;
        libs.store().xs_close(xsh);
        if (libs.fmem().xenforeignmemory_close(fmem) != 0) {
            LOG.warn("xenforeignmemory_close failed: {}", errnoText(Native.getLastError()));
        }
        if (libs.ctrl().xc_interface_close(xch) != 0) {
            LOG.warn("xc_interface_close failed: {}", errnoText(Native.getLastError()));
        }
        LOG.info("Closed the Xen control interface");
    }

    private Pointer xch() {
        checkOpen();
        return xch;
    }

    private Pointer fmem() {
        checkOpen();
        return fmem;
    }

    private Pointer xsh() {
        checkOpen();
        return xsh;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the Xen control interface is closed");
        }
    }

    private DomainState state(int domid) {
        checkOpen();
        return domainStates.computeIfAbsent(domid, DomainState::new);
    }

    /** A failed call: reads errno at once (before any other native call) and says what failed. */
    private static XenCallException fail(String call, String what) {
        int errno = Native.getLastError();
        return new XenCallException(what + " [" + call + ": " + errnoText(errno) + "]", errno);
    }

    /** {@code ENOENT (errno 2)}, for the Linux errno values the Xen libraries leave. */
    static String errnoText(int errno) {
        return Errno.text(errno);
    }

    /** What one domain keeps between calls; guarded by its own lock. */
    private static final class DomainState {
        final int domid;
        /** {@code xc_hypercall_buffer_t} of the dirty bitmap, or null before the first harvest. */
        Memory bitmapBuffer;
        int bitmapPages;
        /** The bitmap's hypercall pages, as 64-bit words. */
        LongBuffer bitmapWords;
        /** {@code xc_shadow_op_stats_t} of the last harvest. */
        final Memory stats = new Memory(XenAbi.SHADOW_OP_STATS_SIZE);
        /** {@code xen_pfn_t[MAP_BATCH]} and {@code int[MAP_BATCH]} for {@code xenforeignmemory_map}. */
        final Memory pfnBatch = new Memory((long) MAP_BATCH * XenAbi.XEN_PFN_SIZE);
        final Memory errBatch = new Memory((long) MAP_BATCH * Integer.BYTES);
        final int[] errs = new int[MAP_BATCH];

        DomainState(int domid) {
            this.domid = domid;
        }
    }
}
