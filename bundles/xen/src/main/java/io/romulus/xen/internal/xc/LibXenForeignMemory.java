package io.romulus.xen.internal.xc;

import com.sun.jna.Library;
import com.sun.jna.Pointer;

/**
 * 1:1 JNA mapping of {@code xenforeignmemory.h} ({@code libxenforeignmemory.so.1}, Debian package
 * {@code libxenforeignmemory1}). Interface mapping for the reasons given on {@link LibXenCtrl}.
 */
interface LibXenForeignMemory extends Library {

    /** {@code xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger,
     * unsigned open_flags)}. */
    Pointer xenforeignmemory_open(Pointer logger, int openFlags);

    int xenforeignmemory_close(Pointer fmem);

    /**
     * {@code void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
     * const xen_pfn_t arr[], int err[])}: with {@code err} given, the mapping may succeed partly; each
     * {@code err[i]} is 0 or a negative errno for page {@code i}, and a page that failed must not be touched. NULL
     * means nothing was mapped (errno set).
     */
    Pointer xenforeignmemory_map(Pointer fmem, int dom, int prot, long pages, Pointer arr, Pointer err);

    int xenforeignmemory_unmap(Pointer fmem, Pointer addr, long pages);
}
