package io.romulus.xen.internal.xc;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * What the Xen binding asks of the hypervisor, one method per libxenctrl, libxenguest, libxenforeignmemory or
 * libxenstore call (or a short sequence of them). {@link NativeXenControl} makes the calls through JNA; tests drive
 * the binding through a simulated domain instead. Every method throws {@link XenCallException} with the call's name
 * and errno when Xen refuses.
 */
public interface XenControl extends AutoCloseable {

    /** Xen's version, {@code {major, minor}} ({@code XENVER_version}). */
    int[] version() throws XenCallException;

    /** Every domain, dom0 included ({@code xc_domain_getinfolist}). */
    List<XenDomainInfo> domains() throws XenCallException;

    /** One domain ({@code xc_domain_getinfolist} from {@code domid}, one entry); throws if there is none. */
    XenDomainInfo domain(int domid) throws XenCallException;

    /** The highest guest page frame number in use ({@code xc_domain_maximum_gpfn}). */
    long maximumGpfn(int domid) throws XenCallException;

    /** {@code xc_domain_pause}: the vCPUs stop; returns when they have. */
    void pause(int domid) throws XenCallException;

    /** {@code xc_domain_unpause}. */
    void unpause(int domid) throws XenCallException;

    /** Shadow log-dirty mode on ({@code XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY}). */
    void enableLogDirty(int domid) throws XenCallException;

    /**
     * Shadow log-dirty mode on unless it is on already: one {@code XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY}, without
     * {@link #enableLogDirty}'s off-and-on retry, so that a dirty bitmap Xen keeps for the domain stays as it is.
     * Xen 4.17 refuses to enable log-dirty mode on a domain that has it with EINVAL ({@code paging_log_dirty_enable}
     * in {@code xen/arch/x86/mm/paging.c}), before it would pause the domain.
     *
     * @return {@code true} if this call turned log-dirty mode on (it was off, so nothing was logged), {@code false}
     *         if Xen answered EINVAL: it is on
     */
    boolean enableLogDirtyIfOff(int domid) throws XenCallException;

    /** Shadow log-dirty mode off ({@code XEN_DOMCTL_SHADOW_OP_OFF}). */
    void disableLogDirty(int domid) throws XenCallException;

    /**
     * Reads and clears the dirty bitmap ({@code XEN_DOMCTL_SHADOW_OP_CLEAN}) for pfns {@code 0 .. pages-1}.
     *
     * @param finalRound the domain is paused for a checkpoint ({@code XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL}): Xen also
     *                   reports the pages it maps writable itself, which it may have written without a fault. Every
     *                   Remus checkpoint is such a round, as libxc's save makes its last, paused one.
     * @return the dirty pfns in ascending order
     */
    long[] cleanLogDirty(int domid, long pages, boolean finalRound) throws XenCallException;

    /** Reads the dirty bitmap without clearing it ({@code XEN_DOMCTL_SHADOW_OP_PEEK}). */
    long[] peekLogDirty(int domid, long pages) throws XenCallException;

    /**
     * Maps {@code pfns[from .. from+count-1]} read-only ({@code xenforeignmemory_map}), copies each page into
     * {@code dst} at its position (advancing it by {@code count * 4096}) and unmaps them. A page that cannot be mapped
     * (not populated: a hole, ballooned out) is copied as zeros and its errno (positive) is stored in
     * {@code errors[i]} for {@code pfns[from + i]}; mapped pages get 0.
     *
     * @return how many pages could not be mapped
     */
    int copyPages(int domid, long[] pfns, int from, int count, ByteBuffer dst, int[] errors) throws XenCallException;

    /** The HVM context blob ({@code xc_domain_hvm_getcontext}), as Xen's {@code HVM_CONTEXT} record carries it. */
    byte[] hvmContext(int domid) throws XenCallException;

    /** One HVM parameter ({@code xc_hvm_param_get}). */
    long hvmParam(int domid, int param) throws XenCallException;

    /** {@code xc_domain_get_tsc_info}. */
    TscInfo tscInfo(int domid) throws XenCallException;

    /**
     * The domain's CPUID and MSR policy in the layout of the stream's {@code X86_CPUID_POLICY} (an array of
     * {@code xen_cpuid_leaf_t}) and {@code X86_MSR_POLICY} (an array of {@code xen_msr_entry_t}) records.
     */
    CpuPolicy cpuPolicy(int domid) throws XenCallException;

    /**
     * The names under a xenstore directory ({@code xs_directory}), in xenstore's order; empty when the path does
     * not exist.
     */
    List<String> xenstoreDirectory(String path) throws XenCallException;

    /** The value of a xenstore node ({@code xs_read}), or {@code null} when it does not exist. */
    String xenstoreRead(String path) throws XenCallException;

    @Override
    void close();

    /** {@code XEN_DOMCTL_{get,set}tscinfo}, as the stream's {@code X86_TSC_INFO} record carries it. */
    record TscInfo(int mode, int khz, long nsec, int incarnation) {
    }

    /** Serialised CPUID leaves (24 bytes each) and MSR entries (16 bytes each), little-endian. */
    record CpuPolicy(byte[] cpuidLeaves, byte[] msrEntries) {
    }
}
