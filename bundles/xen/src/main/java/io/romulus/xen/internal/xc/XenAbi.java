package io.romulus.xen.internal.xc;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Xen 4.17 ABI that {@link NativeXenControl} and {@link HvmContext} speak: constants and the byte layouts of
 * the structs they fill or read, from the Debian libxen-dev 4.17 headers ({@code xenctrl.h}, {@code xen/domctl.h},
 * {@code xen/version.h}, {@code xen/arch-x86/xen.h}, {@code xen/hvm/params.h}, {@code xen/arch-x86/hvm/save.h}).
 *
 * <p>Layouts are explicit offsets into little-endian buffers rather than JNA {@code Structure}s: the offsets are
 * then plain numbers that {@code XenAbiGoldenTest} compares one by one with what the C compiler says about the real
 * headers ({@code src/test/c/xen_abi_golden.c}), and arrays of structs are read in one pass over native memory.
 * x86-64 only: the CPU policy records are x86 structs, and {@code xen_pfn_t}, {@code unsigned long} and
 * {@code size_t} are 64 bits there.
 */
final class XenAbi {

    private XenAbi() {
    }

    static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    // ---- xen/domctl.h, xenctrl.h, xen/version.h ----
    /** The domctl interface the layouts below belong to; libxenctrl 4.17 puts it in every domctl it makes. */
    static final int XEN_DOMCTL_INTERFACE_VERSION = 0x15;
    static final int XENVER_VERSION = 0;
    static final int XC_PAGE_SIZE = 4096;
    static final int XC_PAGE_SHIFT = 12;

    static final int XEN_DOMCTL_SHADOW_OP_OFF = 0;
    static final int XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY = 2;
    static final int XEN_DOMCTL_SHADOW_OP_CLEAN = 11;
    static final int XEN_DOMCTL_SHADOW_OP_PEEK = 12;
    /** Mode of CLEAN/PEEK: the final, paused round; also report pages Xen itself maps writable. */
    static final int XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL = 1;

    static final int XEN_DOMINF_SHUTDOWNMASK = 255;
    static final int XEN_DOMINF_SHUTDOWNSHIFT = 16;

    /** {@code sizeof(xen_pfn_t)} on x86-64. */
    static final int XEN_PFN_SIZE = 8;

    /** {@code mmap(2)} protection for {@code xenforeignmemory_map}. */
    static final int PROT_READ = 1;

    /** {@code xenstore.h}: no transaction. */
    static final int XBT_NULL = 0;

    // ---- struct xen_domctl_getdomaininfo (xc_domaininfo_t): the fields XenDomainInfo carries ----
    static final int DOMAININFO_SIZE = 112;
    static final int DOMAININFO_DOMAIN = 0;
    static final int DOMAININFO_FLAGS = 4;
    static final int DOMAININFO_TOT_PAGES = 8;
    static final int DOMAININFO_MAX_PAGES = 16;
    static final int DOMAININFO_CPU_TIME = 56;
    static final int DOMAININFO_NR_ONLINE_VCPUS = 64;
    static final int DOMAININFO_MAX_VCPU_ID = 68;
    static final int DOMAININFO_HANDLE = 76;
    static final int DOMAININFO_HANDLE_SIZE = 16;

    /** Decodes element {@code index} of an {@code xc_domaininfo_t} array. */
    static XenDomainInfo decodeDomainInfo(ByteBuffer b, int index) {
        b.order(ORDER);
        int base = index * DOMAININFO_SIZE;
        byte[] handle = new byte[DOMAININFO_HANDLE_SIZE];
        b.get(base + DOMAININFO_HANDLE, handle);
        return new XenDomainInfo(
                Short.toUnsignedInt(b.getShort(base + DOMAININFO_DOMAIN)),
                b.getInt(base + DOMAININFO_FLAGS),
                b.getLong(base + DOMAININFO_TOT_PAGES),
                b.getLong(base + DOMAININFO_MAX_PAGES),
                b.getLong(base + DOMAININFO_CPU_TIME),
                b.getInt(base + DOMAININFO_NR_ONLINE_VCPUS),
                b.getInt(base + DOMAININFO_MAX_VCPU_ID),
                handle);
    }

    // ---- struct xc_hypercall_buffer (xenctrl.h) ----
    static final int HYPERCALL_BUFFER_SIZE = 40;
    static final int HYPERCALL_BUFFER_HBUF = 0;
    static final int HYPERCALL_BUFFER_PARAM_SHADOW = 8;
    static final int HYPERCALL_BUFFER_DIR = 16;
    static final int HYPERCALL_BUFFER_UBUF = 24;
    static final int HYPERCALL_BUFFER_SZ = 32;

    /**
     * What {@code DECLARE_HYPERCALL_BUFFER} initialises: no buffer yet, no parameter shadow (so that
     * {@code HYPERCALL_BUFFER(name)} is the struct itself), no bounce ({@code dir = 0, sz = 0,
     * ubuf = (void *)-1}). {@code xc__hypercall_buffer_alloc_pages} then stores the pages in {@code hbuf}.
     */
    static void declareHypercallBuffer(ByteBuffer b) {
        b.order(ORDER)
                .putLong(HYPERCALL_BUFFER_HBUF, 0)
                .putLong(HYPERCALL_BUFFER_PARAM_SHADOW, 0)
                .putInt(HYPERCALL_BUFFER_DIR, 0)
                .putInt(HYPERCALL_BUFFER_DIR + 4, 0)
                .putLong(HYPERCALL_BUFFER_UBUF, -1L)
                .putLong(HYPERCALL_BUFFER_SZ, 0);
    }

    /** Pages of hypercall memory that hold a dirty bitmap of {@code pages} bits. */
    static int bitmapPages(long pages) {
        long bytes = (pages + 7) >>> 3;
        long nrPages = (bytes + XC_PAGE_SIZE - 1) >>> XC_PAGE_SHIFT;
        if (pages <= 0 || nrPages > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("no dirty bitmap for " + pages + " pages");
        }
        return (int) nrPages;
    }

    // ---- struct xen_domctl_shadow_op_stats ----
    static final int SHADOW_OP_STATS_SIZE = 8;
    static final int SHADOW_OP_STATS_FAULT_COUNT = 0;
    static final int SHADOW_OP_STATS_DIRTY_COUNT = 4;

    // ---- xen/arch-x86/xen.h: the serialised CPU policy, copied as bytes into the stream's records ----
    /** {@code sizeof(xen_cpuid_leaf_t)}: leaf, subleaf, a, b, c, d, all {@code uint32_t}. */
    static final int CPUID_LEAF_SIZE = 24;
    /** {@code sizeof(xen_msr_entry_t)}: {@code uint32_t} idx, {@code uint32_t} flags, {@code uint64_t} val. */
    static final int MSR_ENTRY_SIZE = 16;

    // ---- xen/hvm/params.h: what libxc's HVM save sends (xg_sr_save_x86_hvm.c, write_hvm_params) ----
    static final int HVM_PARAM_STORE_PFN = 1;
    static final int HVM_PARAM_IOREQ_PFN = 5;
    static final int HVM_PARAM_BUFIOREQ_PFN = 6;
    static final int HVM_PARAM_VIRIDIAN = 9;
    static final int HVM_PARAM_IDENT_PT = 12;
    static final int HVM_PARAM_CONSOLE_PFN = 17;
    static final int HVM_PARAM_ACPI_IOPORTS_LOCATION = 19;
    static final int HVM_PARAM_PAGING_RING_PFN = 27;
    static final int HVM_PARAM_MONITOR_RING_PFN = 28;
    static final int HVM_PARAM_SHARING_RING_PFN = 29;
    static final int HVM_PARAM_IOREQ_SERVER_PFN = 32;
    static final int HVM_PARAM_NR_IOREQ_SERVER_PAGES = 33;
    static final int HVM_PARAM_VM_GENERATION_ID_ADDR = 34;
    static final int HVM_PARAM_X87_FIP_WIDTH = 36;
    static final int HVM_PARAM_VM86_TSS_SIZED = 37;
    static final int HVM_PARAM_MCA_CAP = 38;
    static final int HVM_NR_PARAMS = 39;

    // ---- xen/hvm/save.h, xen/arch-x86/hvm/save.h ----
    static final int HVM_SAVE_CODE_END = 0;
    static final int HVM_SAVE_CODE_HEADER = 1;
    static final int HVM_SAVE_CODE_CPU = 2;
    static final int HVM_FILE_MAGIC = 0x54381286;

    static final int HVM_SAVE_DESCRIPTOR_SIZE = 8;
    static final int HVM_SAVE_DESCRIPTOR_TYPECODE = 0;
    static final int HVM_SAVE_DESCRIPTOR_INSTANCE = 2;
    static final int HVM_SAVE_DESCRIPTOR_LENGTH = 4;

    static final int HVM_SAVE_HEADER_SIZE = 24;
    static final int HVM_SAVE_HEADER_MAGIC = 0;
    static final int HVM_SAVE_HEADER_VERSION = 4;
    static final int HVM_SAVE_HEADER_CHANGESET = 8;
    static final int HVM_SAVE_HEADER_CPUID = 16;
    static final int HVM_SAVE_HEADER_GTSC_KHZ = 20;

    static final int HVM_HW_CPU_SIZE = 1032;
    static final int HVM_HW_CPU_RSP = 568;
    static final int HVM_HW_CPU_RIP = 640;
    static final int HVM_HW_CPU_RFLAGS = 648;
    static final int HVM_HW_CPU_CR0 = 656;
    static final int HVM_HW_CPU_CR3 = 672;
    static final int HVM_HW_CPU_CR4 = 680;
    static final int HVM_HW_CPU_MSR_EFER = 992;
}
