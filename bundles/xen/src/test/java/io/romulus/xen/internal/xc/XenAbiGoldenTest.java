package io.romulus.xen.internal.xc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import io.romulus.support.testing.GoldenProgram;
import org.junit.jupiter.api.Test;

/**
 * The Java side of the Xen 4.17 ABI against the committed golden file {@code xen-4.17-abi.golden}, which
 * {@code src/test/c/xen_abi_golden.c} printed from the real headers; and that program, compiled and run again
 * against the installed headers, against the committed file. Nothing here needs a hypervisor.
 */
class XenAbiGoldenTest {

    static final String GOLDEN = "xen-4.17-abi.golden";
    static final Path C_SOURCE = Path.of("src/test/c/xen_abi_golden.c");

    /** The golden file's lines, without comments. */
    static List<String> goldenLines() throws IOException {
        try (InputStream in = XenAbiGoldenTest.class.getResourceAsStream(GOLDEN)) {
            assertNotNull(in, GOLDEN + " is not on the test classpath");
            List<String> lines = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.US_ASCII).split("\n")) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    lines.add(line);
                }
            }
            return lines;
        }
    }

    /** {@code "size hvm_hw_cpu" -> "1032"}, {@code "const XENVER_version" -> "0"}, ..., in file order. */
    static Map<String, String> golden() throws IOException {
        Map<String, String> facts = new LinkedHashMap<>();
        for (String line : goldenLines()) {
            String[] words = line.split(" ");
            assertEquals(3, words.length, "golden line: " + line);
            facts.put(words[0] + " " + words[1], words[2]);
        }
        return facts;
    }

    static byte[] goldenBytes(String sample) throws IOException {
        String hex = golden().get("bytes " + sample);
        assertNotNull(hex, "no bytes " + sample + " in " + GOLDEN);
        return HexFormat.of().parseHex(hex);
    }

    /** Every layout fact and constant the Java code relies on, as the Java code has it. */
    private static Map<String, Long> javaFacts() {
        Map<String, Long> f = new TreeMap<>();
        f.put("size xen_domctl_getdomaininfo", (long) XenAbi.DOMAININFO_SIZE);
        f.put("size xc_domaininfo_t", (long) XenAbi.DOMAININFO_SIZE);
        f.put("offset xen_domctl_getdomaininfo.domain", (long) XenAbi.DOMAININFO_DOMAIN);
        f.put("offset xen_domctl_getdomaininfo.flags", (long) XenAbi.DOMAININFO_FLAGS);
        f.put("offset xen_domctl_getdomaininfo.tot_pages", (long) XenAbi.DOMAININFO_TOT_PAGES);
        f.put("offset xen_domctl_getdomaininfo.max_pages", (long) XenAbi.DOMAININFO_MAX_PAGES);
        f.put("offset xen_domctl_getdomaininfo.cpu_time", (long) XenAbi.DOMAININFO_CPU_TIME);
        f.put("offset xen_domctl_getdomaininfo.nr_online_vcpus", (long) XenAbi.DOMAININFO_NR_ONLINE_VCPUS);
        f.put("offset xen_domctl_getdomaininfo.max_vcpu_id", (long) XenAbi.DOMAININFO_MAX_VCPU_ID);
        f.put("offset xen_domctl_getdomaininfo.handle", (long) XenAbi.DOMAININFO_HANDLE);
        // the handle is 16 bytes and ends where the next field starts
        f.put("offset xen_domctl_getdomaininfo.cpupool",
                (long) XenAbi.DOMAININFO_HANDLE + XenAbi.DOMAININFO_HANDLE_SIZE);

        f.put("size xc_hypercall_buffer", (long) XenAbi.HYPERCALL_BUFFER_SIZE);
        f.put("offset xc_hypercall_buffer.hbuf", (long) XenAbi.HYPERCALL_BUFFER_HBUF);
        f.put("offset xc_hypercall_buffer.param_shadow", (long) XenAbi.HYPERCALL_BUFFER_PARAM_SHADOW);
        f.put("offset xc_hypercall_buffer.dir", (long) XenAbi.HYPERCALL_BUFFER_DIR);
        f.put("offset xc_hypercall_buffer.ubuf", (long) XenAbi.HYPERCALL_BUFFER_UBUF);
        f.put("offset xc_hypercall_buffer.sz", (long) XenAbi.HYPERCALL_BUFFER_SZ);

        f.put("size xen_domctl_shadow_op_stats", (long) XenAbi.SHADOW_OP_STATS_SIZE);
        f.put("offset xen_domctl_shadow_op_stats.fault_count", (long) XenAbi.SHADOW_OP_STATS_FAULT_COUNT);
        f.put("offset xen_domctl_shadow_op_stats.dirty_count", (long) XenAbi.SHADOW_OP_STATS_DIRTY_COUNT);

        f.put("size xen_cpuid_leaf_t", (long) XenAbi.CPUID_LEAF_SIZE);
        f.put("size xen_msr_entry_t", (long) XenAbi.MSR_ENTRY_SIZE);
        f.put("size xen_pfn_t", (long) XenAbi.XEN_PFN_SIZE);

        f.put("size hvm_save_descriptor", (long) XenAbi.HVM_SAVE_DESCRIPTOR_SIZE);
        f.put("offset hvm_save_descriptor.typecode", (long) XenAbi.HVM_SAVE_DESCRIPTOR_TYPECODE);
        f.put("offset hvm_save_descriptor.instance", (long) XenAbi.HVM_SAVE_DESCRIPTOR_INSTANCE);
        f.put("offset hvm_save_descriptor.length", (long) XenAbi.HVM_SAVE_DESCRIPTOR_LENGTH);
        f.put("size hvm_save_header", (long) XenAbi.HVM_SAVE_HEADER_SIZE);
        f.put("const HVM_SAVE_LENGTH_HEADER", (long) XenAbi.HVM_SAVE_HEADER_SIZE);
        f.put("offset hvm_save_header.magic", (long) XenAbi.HVM_SAVE_HEADER_MAGIC);
        f.put("offset hvm_save_header.version", (long) XenAbi.HVM_SAVE_HEADER_VERSION);
        f.put("offset hvm_save_header.changeset", (long) XenAbi.HVM_SAVE_HEADER_CHANGESET);
        f.put("offset hvm_save_header.cpuid", (long) XenAbi.HVM_SAVE_HEADER_CPUID);
        f.put("offset hvm_save_header.gtsc_khz", (long) XenAbi.HVM_SAVE_HEADER_GTSC_KHZ);
        f.put("size hvm_hw_cpu", (long) XenAbi.HVM_HW_CPU_SIZE);
        f.put("const HVM_SAVE_LENGTH_CPU", (long) XenAbi.HVM_HW_CPU_SIZE);
        f.put("offset hvm_hw_cpu.rsp", (long) XenAbi.HVM_HW_CPU_RSP);
        f.put("offset hvm_hw_cpu.rip", (long) XenAbi.HVM_HW_CPU_RIP);
        f.put("offset hvm_hw_cpu.rflags", (long) XenAbi.HVM_HW_CPU_RFLAGS);
        f.put("offset hvm_hw_cpu.cr0", (long) XenAbi.HVM_HW_CPU_CR0);
        f.put("offset hvm_hw_cpu.cr3", (long) XenAbi.HVM_HW_CPU_CR3);
        f.put("offset hvm_hw_cpu.cr4", (long) XenAbi.HVM_HW_CPU_CR4);
        f.put("offset hvm_hw_cpu.msr_efer", (long) XenAbi.HVM_HW_CPU_MSR_EFER);
        f.put("const HVM_SAVE_CODE_END", (long) XenAbi.HVM_SAVE_CODE_END);
        f.put("const HVM_SAVE_CODE_HEADER", (long) XenAbi.HVM_SAVE_CODE_HEADER);
        f.put("const HVM_SAVE_CODE_CPU", (long) XenAbi.HVM_SAVE_CODE_CPU);
        f.put("const HVM_FILE_MAGIC", Integer.toUnsignedLong(XenAbi.HVM_FILE_MAGIC));

        f.put("const XEN_DOMCTL_INTERFACE_VERSION", (long) XenAbi.XEN_DOMCTL_INTERFACE_VERSION);
        f.put("const XENVER_version", (long) XenAbi.XENVER_VERSION);
        f.put("const XC_PAGE_SIZE", (long) XenAbi.XC_PAGE_SIZE);
        f.put("const XEN_DOMCTL_SHADOW_OP_OFF", (long) XenAbi.XEN_DOMCTL_SHADOW_OP_OFF);
        f.put("const XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY", (long) XenAbi.XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY);
        f.put("const XEN_DOMCTL_SHADOW_OP_CLEAN", (long) XenAbi.XEN_DOMCTL_SHADOW_OP_CLEAN);
        f.put("const XEN_DOMCTL_SHADOW_OP_PEEK", (long) XenAbi.XEN_DOMCTL_SHADOW_OP_PEEK);
        f.put("const XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL", (long) XenAbi.XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL);
        f.put("const XEN_DOMINF_dying", (long) XenDomainInfo.DYING);
        f.put("const XEN_DOMINF_hvm_guest", (long) XenDomainInfo.HVM_GUEST);
        f.put("const XEN_DOMINF_shutdown", (long) XenDomainInfo.SHUTDOWN);
        f.put("const XEN_DOMINF_paused", (long) XenDomainInfo.PAUSED);
        f.put("const XEN_DOMINF_blocked", (long) XenDomainInfo.BLOCKED);
        f.put("const XEN_DOMINF_running", (long) XenDomainInfo.RUNNING);
        f.put("const XEN_DOMINF_debugged", (long) XenDomainInfo.DEBUGGED);
        f.put("const XEN_DOMINF_xs_domain", (long) XenDomainInfo.XS_DOMAIN);
        f.put("const XEN_DOMINF_hap", (long) XenDomainInfo.HAP);
        f.put("const XEN_DOMINF_shutdownmask", (long) XenAbi.XEN_DOMINF_SHUTDOWNMASK);
        f.put("const XEN_DOMINF_shutdownshift", (long) XenAbi.XEN_DOMINF_SHUTDOWNSHIFT);
        f.put("const XBT_NULL", (long) XenAbi.XBT_NULL);

        f.put("const HVM_PARAM_STORE_PFN", (long) XenAbi.HVM_PARAM_STORE_PFN);
        f.put("const HVM_PARAM_IOREQ_PFN", (long) XenAbi.HVM_PARAM_IOREQ_PFN);
        f.put("const HVM_PARAM_BUFIOREQ_PFN", (long) XenAbi.HVM_PARAM_BUFIOREQ_PFN);
        f.put("const HVM_PARAM_PAGING_RING_PFN", (long) XenAbi.HVM_PARAM_PAGING_RING_PFN);
        f.put("const HVM_PARAM_MONITOR_RING_PFN", (long) XenAbi.HVM_PARAM_MONITOR_RING_PFN);
        f.put("const HVM_PARAM_SHARING_RING_PFN", (long) XenAbi.HVM_PARAM_SHARING_RING_PFN);
        f.put("const HVM_PARAM_VM86_TSS_SIZED", (long) XenAbi.HVM_PARAM_VM86_TSS_SIZED);
        f.put("const HVM_PARAM_CONSOLE_PFN", (long) XenAbi.HVM_PARAM_CONSOLE_PFN);
        f.put("const HVM_PARAM_ACPI_IOPORTS_LOCATION", (long) XenAbi.HVM_PARAM_ACPI_IOPORTS_LOCATION);
        f.put("const HVM_PARAM_VIRIDIAN", (long) XenAbi.HVM_PARAM_VIRIDIAN);
        f.put("const HVM_PARAM_IDENT_PT", (long) XenAbi.HVM_PARAM_IDENT_PT);
        f.put("const HVM_PARAM_VM_GENERATION_ID_ADDR", (long) XenAbi.HVM_PARAM_VM_GENERATION_ID_ADDR);
        f.put("const HVM_PARAM_IOREQ_SERVER_PFN", (long) XenAbi.HVM_PARAM_IOREQ_SERVER_PFN);
        f.put("const HVM_PARAM_NR_IOREQ_SERVER_PAGES", (long) XenAbi.HVM_PARAM_NR_IOREQ_SERVER_PAGES);
        f.put("const HVM_PARAM_X87_FIP_WIDTH", (long) XenAbi.HVM_PARAM_X87_FIP_WIDTH);
        f.put("const HVM_PARAM_MCA_CAP", (long) XenAbi.HVM_PARAM_MCA_CAP);
        f.put("const HVM_NR_PARAMS", (long) XenAbi.HVM_NR_PARAMS);
        return f;
    }

    /**
     * Facts the golden file records that no Java constant stands for: fields the binding never reads (it hands the
     * CPU policy on as bytes; see {@link #cpuPolicySamplesHaveTheStreamLayout}) and header values it does not check.
     * They are compared here against the values the migration stream and the Java decoders assume.
     */
    private static Map<String, Long> recordedFacts() {
        Map<String, Long> f = new TreeMap<>();
        f.put("offset xen_domctl_getdomaininfo.pad1", 2L);
        f.put("offset xen_domctl_getdomaininfo.outstanding_pages", 24L);
        f.put("offset xen_domctl_getdomaininfo.shr_pages", 32L);
        f.put("offset xen_domctl_getdomaininfo.paged_pages", 40L);
        f.put("offset xen_domctl_getdomaininfo.shared_info_frame", 48L);
        f.put("offset xen_domctl_getdomaininfo.ssidref", 72L);
        f.put("offset xen_domctl_getdomaininfo.gpaddr_bits", 96L);
        f.put("offset xen_domctl_getdomaininfo.pad2", 97L);
        f.put("offset xen_domctl_getdomaininfo.arch_config", 104L);
        f.put("offset xen_cpuid_leaf_t.leaf", 0L);
        f.put("offset xen_cpuid_leaf_t.subleaf", 4L);
        f.put("offset xen_cpuid_leaf_t.a", 8L);
        f.put("offset xen_cpuid_leaf_t.b", 12L);
        f.put("offset xen_cpuid_leaf_t.c", 16L);
        f.put("offset xen_cpuid_leaf_t.d", 20L);
        f.put("offset xen_msr_entry_t.idx", 0L);
        f.put("offset xen_msr_entry_t.flags", 4L);
        f.put("offset xen_msr_entry_t.val", 8L);
        f.put("const HVM_FILE_VERSION", 1L);
        f.put("const XEN_INVALID_MAX_VCPU_ID", 0xffff_ffffL);
        f.put("const XEN_CPUID_NO_SUBLEAF", 0xffff_ffffL);
        return f;
    }

    @Test
    void everyLayoutAndConstantIsTheGoldenOne() throws IOException {
        Map<String, String> golden = golden();
        Map<String, Long> all = new TreeMap<>(javaFacts());
        all.putAll(recordedFacts());
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, Long> e : all.entrySet()) {
            String value = golden.get(e.getKey());
            if (value == null) {
                wrong.add(e.getKey() + ": not in the golden file");
            } else if (Long.parseUnsignedLong(value) != e.getValue()) {
                wrong.add(e.getKey() + ": Java has " + e.getValue() + ", the headers say " + value);
            }
        }
        Set<String> unchecked = new HashSet<>(golden.keySet());
        unchecked.removeIf(k -> k.startsWith("bytes ") || all.containsKey(k));
        for (String k : unchecked) {
            wrong.add(k + ": in the golden file but checked by nothing");
        }
        assertTrue(wrong.isEmpty(), "Java and the Xen 4.17 headers disagree:\n  " + String.join("\n  ", wrong));
    }

    @Test
    void hvmParamsAreLibxcSaveListInItsOrder() throws IOException {
        List<Long> golden = new ArrayList<>();
        for (Map.Entry<String, String> e : golden().entrySet()) {
            if (e.getKey().startsWith("const HVM_PARAM_")) {
                golden.add(Long.parseLong(e.getValue()));
            }
        }
        List<Long> java = new ArrayList<>();
        for (int index : HvmParams.SAVED) {
            java.add((long) index);
            assertTrue(index < XenAbi.HVM_NR_PARAMS, "HVM param " + index + " is not below HVM_NR_PARAMS");
        }
        assertEquals(golden, java);
    }

    @Test
    void domainInfoSampleDecodes() throws IOException {
        byte[] bytes = goldenBytes("xen_domctl_getdomaininfo");
        assertEquals(XenAbi.DOMAININFO_SIZE, bytes.length);
        XenDomainInfo info = XenAbi.decodeDomainInfo(ByteBuffer.wrap(bytes), 0);
        assertEquals(7, info.domid());
        assertEquals(0x123 | (3 << 16), info.flags());
        assertEquals(0x1122334455667788L, info.totPages());
        assertEquals(0x100000000L, info.maxPages());
        assertEquals(123456789012345L, info.cpuTimeNs());
        assertEquals(4, info.onlineVcpus());
        assertEquals(3, info.maxVcpuId());
        byte[] handle = new byte[16];
        for (int i = 0; i < handle.length; i++) {
            handle[i] = (byte) (0xa0 + i);
        }
        assertArrayEquals(handle, info.handle());
        // 0x123 = dying | hvm_guest | running | hap
        assertTrue(info.dying());
        assertTrue(info.hvm());
        assertTrue((info.flags() & XenDomainInfo.RUNNING) != 0);
        assertTrue((info.flags() & XenDomainInfo.HAP) != 0);
        assertEquals(false, info.paused());
        assertEquals(3, info.shutdownCode());
    }

    @Test
    void domainInfoArrayElementsAreDecodedAtTheirOwnOffset() throws IOException {
        byte[] one = goldenBytes("xen_domctl_getdomaininfo");
        byte[] two = new byte[2 * one.length];
        System.arraycopy(one, 0, two, one.length, one.length);
        assertEquals(0, XenAbi.decodeDomainInfo(ByteBuffer.wrap(two), 0).domid());
        assertEquals(7, XenAbi.decodeDomainInfo(ByteBuffer.wrap(two), 1).domid());
    }

    @Test
    void hypercallBufferIsDeclaredAsTheMacroDeclaresIt() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(XenAbi.HYPERCALL_BUFFER_SIZE);
        b.put(0, new byte[] {0x55, 0x55, 0x55}); // whatever was there before
        XenAbi.declareHypercallBuffer(b);
        assertArrayEquals(goldenBytes("xc_hypercall_buffer_declared"), b.array());
    }

    @Test
    void bitmapPagesHoldOneBitPerGuestPage() {
        assertEquals(1, XenAbi.bitmapPages(1));
        assertEquals(1, XenAbi.bitmapPages(8 * 4096));
        assertEquals(2, XenAbi.bitmapPages(8 * 4096 + 1));
        assertEquals(32, XenAbi.bitmapPages(1L << 20)); // 4 GiB of guest memory
    }

    @Test
    void cpuPolicySamplesHaveTheStreamLayout() throws IOException {
        ByteBuffer leaf = ByteBuffer.wrap(goldenBytes("xen_cpuid_leaf_t")).order(XenAbi.ORDER);
        assertEquals(XenAbi.CPUID_LEAF_SIZE, leaf.capacity());
        assertEquals(0x7, leaf.getInt(0));
        assertEquals(0, leaf.getInt(4));
        assertEquals(0x1, leaf.getInt(8));
        assertEquals(0x029c6fbf, leaf.getInt(12));
        assertEquals(0x40000000, leaf.getInt(16));
        assertEquals(0xbc000400, leaf.getInt(20));
        ByteBuffer msr = ByteBuffer.wrap(goldenBytes("xen_msr_entry_t")).order(XenAbi.ORDER);
        assertEquals(XenAbi.MSR_ENTRY_SIZE, msr.capacity());
        assertEquals(0xce, msr.getInt(0));
        assertEquals(0, msr.getInt(4));
        assertEquals(0x8000000080000000L, msr.getLong(8));
    }

    @Test
    void hvmContextSampleParses() throws IOException {
        HvmContext ctx = HvmContext.parse(goldenBytes("hvm_context"));
        assertEquals(new HvmContext.Header(XenAbi.HVM_FILE_MAGIC, 1, 0x0123456789abcdefL, 0x000806ec, 2400000),
                ctx.header());
        assertEquals(List.of(XenAbi.HVM_SAVE_CODE_HEADER, XenAbi.HVM_SAVE_CODE_CPU, XenAbi.HVM_SAVE_CODE_END),
                ctx.records().stream().map(HvmContext.Record::typecode).toList());
        assertEquals(List.of(new HvmContext.Cpu(1, 0xffffffff81000000L, 0xffffc90000003f00L, 0x246, 0x80050033L,
                0x10a000, 0x3706f0, 0xd01)), ctx.cpus());
    }

    /**
     * Compiles {@code xen_abi_golden.c} against the installed Xen headers, runs it, and asserts that it prints the
     * committed golden file: the headers on this machine are the ones the Java code was checked against. A machine
     * without gcc or libxen-dev fails this test, naming the Debian package to install.
     */
    @Test
    void installedHeadersStillPrintTheGoldenFile() throws IOException {
        String output = GoldenProgram.of(C_SOURCE)
                .needs("libxen-dev", "/usr/include/xenctrl.h", "/usr/include/xen/hvm/save.h").output();

        String committed;
        try (InputStream in = XenAbiGoldenTest.class.getResourceAsStream(GOLDEN)) {
            assertNotNull(in, GOLDEN + " is not on the test classpath");
            committed = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
        assertEquals(committed, output, "the installed Xen headers no longer print the committed " + GOLDEN
                + "; if the headers changed on purpose, check every difference and commit the new output");
    }
}
