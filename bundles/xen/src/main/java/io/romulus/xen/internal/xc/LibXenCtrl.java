package io.romulus.xen.internal.xc;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;

/**
 * 1:1 JNA mapping of the libxenctrl 4.17 calls Romulus makes ({@code libxenctrl.so.4.17}, Debian package
 * {@code libxenmisc4.17}), C names and C argument order, signatures as {@code xenctrl.h} declares them. Failures
 * return -1 (or NULL) and leave errno, which the caller reads with {@code Native.getLastError()}.
 *
 * <p>Types on x86-64: {@code xc_interface *} and {@code xc_hypercall_buffer_t *} are {@link Pointer}s;
 * {@code uint32_t} and {@code unsigned int} are {@code int}; {@code unsigned long}, {@code long long} and
 * {@code xen_pfn_t} are {@code long}.
 *
 * <p>Interface mapping rather than direct mapping: {@link NativeXenControl} loads it only when asked to (in
 * {@code open()}, from an {@code @Activate}), so a missing library becomes a clear error instead of a class that
 * cannot initialise; the call overhead (around a microsecond) is nothing next to a hypercall, even at the ~40
 * dirty-bitmap harvests a second of an epoch loop. The QEMU binding maps libc the same way.
 */
interface LibXenCtrl extends Library {

    /** {@code xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger,
     * unsigned open_flags)}: NULL loggers log to stderr. */
    Pointer xc_interface_open(Pointer logger, Pointer dombuildLogger, int openFlags);

    int xc_interface_close(Pointer xch);

    /** {@code int xc_version(xc_interface *xch, int cmd, void *arg)}: for {@code XENVER_version}, arg is NULL and
     * the result is {@code major << 16 | minor}. */
    int xc_version(Pointer xch, int cmd, Pointer arg);

    /** {@code int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain, unsigned int max_domains,
     * xc_domaininfo_t *info)}: the number of domains written. */
    int xc_domain_getinfolist(Pointer xch, int firstDomain, int maxDomains, Pointer info);

    int xc_domain_maximum_gpfn(Pointer xch, int domid, LongByReference gpfns);

    int xc_domain_pause(Pointer xch, int domid);

    int xc_domain_unpause(Pointer xch, int domid);

    /** {@code int xc_shadow_control(xc_interface *xch, uint32_t domid, unsigned int sop, unsigned int *mb,
     * unsigned int mode)}. */
    int xc_shadow_control(Pointer xch, int domid, int sop, IntByReference mb, int mode);

    /** {@code long long xc_logdirty_control(xc_interface *xch, uint32_t domid, unsigned int sop,
     * xc_hypercall_buffer_t *dirty_bitmap, unsigned long pages, unsigned int mode, xc_shadow_op_stats_t *stats)}:
     * the number of pages the bitmap covers, or a negative value. */
    long xc_logdirty_control(Pointer xch, int domid, int sop, Pointer dirtyBitmap, long pages, int mode,
                             Pointer stats);

    /** {@code void *xc__hypercall_buffer_alloc_pages(xc_interface *xch, xc_hypercall_buffer_t *b, int nr_pages)}:
     * also stores the pages in {@code b->hbuf}. */
    Pointer xc__hypercall_buffer_alloc_pages(Pointer xch, Pointer b, int nrPages);

    void xc__hypercall_buffer_free_pages(Pointer xch, Pointer b, int nrPages);

    /** {@code int xc_domain_hvm_getcontext(xc_interface *xch, uint32_t domid, uint8_t *ctxt_buf, uint32_t size)}:
     * the size of the context (with a NULL buffer: the size it needs). */
    int xc_domain_hvm_getcontext(Pointer xch, int domid, byte[] ctxtBuf, int size);

    int xc_hvm_param_get(Pointer handle, int dom, int param, LongByReference value);

    /** {@code int xc_domain_get_tsc_info(xc_interface *xch, uint32_t domid, uint32_t *tsc_mode,
     * uint64_t *elapsed_nsec, uint32_t *gtsc_khz, uint32_t *incarnation)}. */
    int xc_domain_get_tsc_info(Pointer xch, int domid, IntByReference tscMode, LongByReference elapsedNsec,
                               IntByReference gtscKhz, IntByReference incarnation);
}
