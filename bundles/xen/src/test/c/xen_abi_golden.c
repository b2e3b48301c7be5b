/*
 * Prints the Xen 4.17 ABI that io.romulus.xen.internal.xc lays out or reads by hand: sizeof and offsetof of
 * every struct field it touches, every constant it passes, and the bytes of a few structs filled with known
 * values. Compiled against the installed headers (Debian libxen-dev), never linked against libxen*: it calls
 * nothing, so it runs on a machine without a hypervisor.
 *
 * Its output is committed as src/test/resources/io/romulus/xen/internal/xc/xen-4.17-abi.golden;
 * XenAbiGoldenTest compiles and runs this program and asserts that the output has not changed, and compares
 * the Java side with the committed file.
 *
 * Output lines, one fact each:
 *   size   <struct> <bytes>
 *   offset <struct>.<field> <bytes>
 *   const  <NAME> <value, decimal>
 *   bytes  <sample> <hex of every byte, in memory order>
 *
 * gcc -std=gnu11 -Wall -Wextra -Werror -o xen_abi_golden xen_abi_golden.c && ./xen_abi_golden
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <xenctrl.h>
#include <xenforeignmemory.h>
#include <xenstore.h>
#include <xen/domctl.h>
#include <xen/version.h>
#include <xen/hvm/params.h>
#include <xen/hvm/save.h>

#define SIZE(type, label) printf("size %s %zu\n", label, sizeof(type))
#define OFFSET(type, label, field) printf("offset %s.%s %zu\n", label, #field, offsetof(type, field))
#define CONST(name) printf("const %s %lld\n", #name, (long long) (name))

static void dump(const char *label, const void *data, size_t length)
{
    const unsigned char *p = data;
    size_t i;

    printf("bytes %s ", label);
    for ( i = 0; i < length; i++ )
        printf("%02x", p[i]);
    printf("\n");
}

static void layouts(void)
{
    SIZE(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo");
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", domain);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", pad1);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", flags);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", tot_pages);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", max_pages);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", outstanding_pages);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", shr_pages);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", paged_pages);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", shared_info_frame);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", cpu_time);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", nr_online_vcpus);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", max_vcpu_id);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", ssidref);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", handle);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", cpupool);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", gpaddr_bits);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", pad2);
    OFFSET(xen_domctl_getdomaininfo_t, "xen_domctl_getdomaininfo", arch_config);
    SIZE(xc_domaininfo_t, "xc_domaininfo_t");

    SIZE(xc_hypercall_buffer_t, "xc_hypercall_buffer");
    OFFSET(xc_hypercall_buffer_t, "xc_hypercall_buffer", hbuf);
    OFFSET(xc_hypercall_buffer_t, "xc_hypercall_buffer", param_shadow);
    OFFSET(xc_hypercall_buffer_t, "xc_hypercall_buffer", dir);
    OFFSET(xc_hypercall_buffer_t, "xc_hypercall_buffer", ubuf);
    OFFSET(xc_hypercall_buffer_t, "xc_hypercall_buffer", sz);

    SIZE(xc_shadow_op_stats_t, "xen_domctl_shadow_op_stats");
    OFFSET(xc_shadow_op_stats_t, "xen_domctl_shadow_op_stats", fault_count);
    OFFSET(xc_shadow_op_stats_t, "xen_domctl_shadow_op_stats", dirty_count);

    SIZE(xen_cpuid_leaf_t, "xen_cpuid_leaf_t");
    OFFSET(xen_cpuid_leaf_t, "xen_cpuid_leaf_t", leaf);
    OFFSET(xen_cpuid_leaf_t, "xen_cpuid_leaf_t", subleaf);
    OFFSET(xen_cpuid_leaf_t, "xen_cpuid_leaf_t", a);
    OFFSET(xen_cpuid_leaf_t, "xen_cpuid_leaf_t", b);
    OFFSET(xen_cpuid_leaf_t, "xen_cpuid_leaf_t", c);
    OFFSET(xen_cpuid_leaf_t, "xen_cpuid_leaf_t", d);

    SIZE(xen_msr_entry_t, "xen_msr_entry_t");
    OFFSET(xen_msr_entry_t, "xen_msr_entry_t", idx);
    OFFSET(xen_msr_entry_t, "xen_msr_entry_t", flags);
    OFFSET(xen_msr_entry_t, "xen_msr_entry_t", val);

    SIZE(xen_pfn_t, "xen_pfn_t");

    SIZE(struct hvm_save_descriptor, "hvm_save_descriptor");
    OFFSET(struct hvm_save_descriptor, "hvm_save_descriptor", typecode);
    OFFSET(struct hvm_save_descriptor, "hvm_save_descriptor", instance);
    OFFSET(struct hvm_save_descriptor, "hvm_save_descriptor", length);

    SIZE(struct hvm_save_header, "hvm_save_header");
    OFFSET(struct hvm_save_header, "hvm_save_header", magic);
    OFFSET(struct hvm_save_header, "hvm_save_header", version);
    OFFSET(struct hvm_save_header, "hvm_save_header", changeset);
    OFFSET(struct hvm_save_header, "hvm_save_header", cpuid);
    OFFSET(struct hvm_save_header, "hvm_save_header", gtsc_khz);

    SIZE(struct hvm_hw_cpu, "hvm_hw_cpu");
    OFFSET(struct hvm_hw_cpu, "hvm_hw_cpu", rsp);
    OFFSET(struct hvm_hw_cpu, "hvm_hw_cpu", rip);
    OFFSET(struct hvm_hw_cpu, "hvm_hw_cpu", rflags);
    OFFSET(struct hvm_hw_cpu, "hvm_hw_cpu", cr0);
    OFFSET(struct hvm_hw_cpu, "hvm_hw_cpu", cr3);
    OFFSET(struct hvm_hw_cpu, "hvm_hw_cpu", cr4);
    OFFSET(struct hvm_hw_cpu, "hvm_hw_cpu", msr_efer);
}

static void constants(void)
{
    CONST(XEN_DOMCTL_INTERFACE_VERSION);
    CONST(XENVER_version);
    CONST(XC_PAGE_SIZE);

    CONST(XEN_DOMCTL_SHADOW_OP_OFF);
    CONST(XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY);
    CONST(XEN_DOMCTL_SHADOW_OP_CLEAN);
    CONST(XEN_DOMCTL_SHADOW_OP_PEEK);
    CONST(XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL);

    CONST(XEN_DOMINF_dying);
    CONST(XEN_DOMINF_hvm_guest);
    CONST(XEN_DOMINF_shutdown);
    CONST(XEN_DOMINF_paused);
    CONST(XEN_DOMINF_blocked);
    CONST(XEN_DOMINF_running);
    CONST(XEN_DOMINF_debugged);
    CONST(XEN_DOMINF_xs_domain);
    CONST(XEN_DOMINF_hap);
    CONST(XEN_DOMINF_shutdownmask);
    CONST(XEN_DOMINF_shutdownshift);
    CONST(XEN_INVALID_MAX_VCPU_ID);

    /* The parameters libxc's HVM save sends (write_hvm_params), in its order. */
    CONST(HVM_PARAM_STORE_PFN);
    CONST(HVM_PARAM_IOREQ_PFN);
    CONST(HVM_PARAM_BUFIOREQ_PFN);
    CONST(HVM_PARAM_PAGING_RING_PFN);
    CONST(HVM_PARAM_MONITOR_RING_PFN);
    CONST(HVM_PARAM_SHARING_RING_PFN);
    CONST(HVM_PARAM_VM86_TSS_SIZED);
    CONST(HVM_PARAM_CONSOLE_PFN);
    CONST(HVM_PARAM_ACPI_IOPORTS_LOCATION);
    CONST(HVM_PARAM_VIRIDIAN);
    CONST(HVM_PARAM_IDENT_PT);
    CONST(HVM_PARAM_VM_GENERATION_ID_ADDR);
    CONST(HVM_PARAM_IOREQ_SERVER_PFN);
    CONST(HVM_PARAM_NR_IOREQ_SERVER_PAGES);
    CONST(HVM_PARAM_X87_FIP_WIDTH);
    CONST(HVM_PARAM_MCA_CAP);
    CONST(HVM_NR_PARAMS);

    printf("const HVM_SAVE_CODE_END %zu\n", HVM_SAVE_CODE(END));
    printf("const HVM_SAVE_CODE_HEADER %zu\n", HVM_SAVE_CODE(HEADER));
    printf("const HVM_SAVE_CODE_CPU %zu\n", HVM_SAVE_CODE(CPU));
    printf("const HVM_SAVE_LENGTH_HEADER %zu\n", HVM_SAVE_LENGTH(HEADER));
    printf("const HVM_SAVE_LENGTH_CPU %zu\n", HVM_SAVE_LENGTH(CPU));
    CONST(HVM_FILE_MAGIC);
    CONST(HVM_FILE_VERSION);

    CONST(XEN_CPUID_NO_SUBLEAF);
    CONST(XBT_NULL);
}

/* A xen_domctl_getdomaininfo as Xen would fill it for a paused HAP HVM domain. */
static void sample_domaininfo(void)
{
    xc_domaininfo_t info;
    unsigned int i;

    memset(&info, 0, sizeof(info));
    info.domain = 7;
    info.flags = 0x123 | (3u << XEN_DOMINF_shutdownshift);
    info.tot_pages = 0x1122334455667788ULL;
    info.max_pages = 0x0000000100000000ULL;
    info.outstanding_pages = 0x21;
    info.shr_pages = 0x22;
    info.paged_pages = 0x23;
    info.shared_info_frame = 0xfeffcULL;
    info.cpu_time = 123456789012345ULL;
    info.nr_online_vcpus = 4;
    info.max_vcpu_id = 3;
    info.ssidref = 0x55;
    for ( i = 0; i < sizeof(info.handle); i++ )
        info.handle[i] = (uint8_t) (0xa0 + i);
    info.cpupool = 2;
    info.gpaddr_bits = 52;
    info.arch_config.emulation_flags = XEN_X86_EMU_ALL;
    info.arch_config.misc_flags = 0;
    dump("xen_domctl_getdomaininfo", &info, sizeof(info));
}

/* What DECLARE_HYPERCALL_BUFFER leaves before xc_hypercall_buffer_alloc_pages fills hbuf. */
static void sample_hypercall_buffer(void)
{
    DECLARE_HYPERCALL_BUFFER(uint8_t, bitmap);

    (void) bitmap;
    dump("xc_hypercall_buffer_declared", &XC__HYPERCALL_BUFFER_NAME(bitmap),
         sizeof(XC__HYPERCALL_BUFFER_NAME(bitmap)));
}

/* A CPUID leaf followed by an MSR entry, as xc_cpu_policy_serialise writes them. */
static void sample_cpu_policy(void)
{
    xen_cpuid_leaf_t leaf = { .leaf = 0x7, .subleaf = 0, .a = 0x1, .b = 0x029c6fbf, .c = 0x40000000,
                              .d = 0xbc000400 };
    xen_msr_entry_t msr = { .idx = 0xce, .flags = 0, .val = 0x8000000080000000ULL };

    dump("xen_cpuid_leaf_t", &leaf, sizeof(leaf));
    dump("xen_msr_entry_t", &msr, sizeof(msr));
}

/* An HVM context as xc_domain_hvm_getcontext returns it: HEADER, CPU for vCPU 1, END. */
static void sample_hvm_context(void)
{
    struct {
        struct hvm_save_descriptor header_desc;
        struct hvm_save_header header;
        struct hvm_save_descriptor cpu_desc;
        struct hvm_hw_cpu cpu;
        struct hvm_save_descriptor end_desc;
    } __attribute__((packed)) blob;

    memset(&blob, 0, sizeof(blob));
    blob.header_desc.typecode = HVM_SAVE_CODE(HEADER);
    blob.header_desc.instance = 0;
    blob.header_desc.length = HVM_SAVE_LENGTH(HEADER);
    blob.header.magic = HVM_FILE_MAGIC;
    blob.header.version = HVM_FILE_VERSION;
    blob.header.changeset = 0x0123456789abcdefULL;
    blob.header.cpuid = 0x000806ec;
    blob.header.gtsc_khz = 2400000;
    blob.cpu_desc.typecode = HVM_SAVE_CODE(CPU);
    blob.cpu_desc.instance = 1;
    blob.cpu_desc.length = HVM_SAVE_LENGTH(CPU);
    blob.cpu.rip = 0xffffffff81000000ULL;
    blob.cpu.rsp = 0xffffc90000003f00ULL;
    blob.cpu.rflags = 0x246;
    blob.cpu.cr0 = 0x80050033;
    blob.cpu.cr3 = 0x10a000;
    blob.cpu.cr4 = 0x3706f0;
    blob.cpu.msr_efer = 0xd01;
    blob.end_desc.typecode = HVM_SAVE_CODE(END);
    blob.end_desc.instance = 0;
    blob.end_desc.length = 0;
    dump("hvm_context", &blob, sizeof(blob));
}

int main(void)
{
    printf("# Xen 4.17 ABI as io.romulus.xen.internal.xc uses it; generated by src/test/c/xen_abi_golden.c\n");
    layouts();
    constants();
    sample_domaininfo();
    sample_hypercall_buffer();
    sample_cpu_policy();
    sample_hvm_context();
    return 0;
}
