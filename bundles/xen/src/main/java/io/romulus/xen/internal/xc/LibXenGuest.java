package io.romulus.xen.internal.xc;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;

/**
 * 1:1 JNA mapping of the CPU policy calls of {@code xenguest.h}, which live in {@code libxenguest.so.4.17}
 * (Debian package {@code libxenmisc4.17}), not in libxenctrl. They take the {@code xc_interface *} that
 * {@link LibXenCtrl#xc_interface_open} returned. Interface mapping for the reasons given on {@link LibXenCtrl}.
 */
interface LibXenGuest extends Library {

    /** {@code xc_cpu_policy_t *xc_cpu_policy_init(void)}: NULL when out of memory. */
    Pointer xc_cpu_policy_init();

    void xc_cpu_policy_destroy(Pointer policy);

    /** {@code int xc_cpu_policy_get_size(xc_interface *xch, uint32_t *nr_leaves, uint32_t *nr_msrs)}: the
     * largest number of CPUID leaves and MSR entries any policy of this Xen serialises to. */
    int xc_cpu_policy_get_size(Pointer xch, IntByReference nrLeaves, IntByReference nrMsrs);

    int xc_cpu_policy_get_domain(Pointer xch, int domid, Pointer policy);

    /**
     * {@code int xc_cpu_policy_serialise(xc_interface *xch, const xc_cpu_policy_t *policy,
     * xen_cpuid_leaf_t *leaves, uint32_t *nr_leaves, xen_msr_entry_t *msrs, uint32_t *nr_msrs)}: on entry the
     * counts are the capacities of the arrays, on return how many entries were written; too small an array fails
     * with {@code ENOBUFS}.
     */
    int xc_cpu_policy_serialise(Pointer xch, Pointer policy, Pointer leaves, IntByReference nrLeaves, Pointer msrs,
                                IntByReference nrMsrs);
}
