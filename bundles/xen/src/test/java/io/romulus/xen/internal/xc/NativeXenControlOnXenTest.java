package io.romulus.xen.internal.xc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * The binding against a real hypervisor: run in dom0 of a Xen 4.17 host, as root, with a running HVM guest named by
 * {@code -Dromulus.xen.test.domain=NAME}.
 *
 * <p>Skipped everywhere else, by name: CI machines (and the development machines this binding was written on) have
 * Debian's Xen libraries but no Xen hypervisor, so there is no {@code /proc/xen/capabilities}, no
 * {@code /dev/xen/privcmd} and no domain to read. What can be checked there is checked by {@link XenAbiGoldenTest}
 * and {@link NativeXenControlTest}.
 */
@EnabledIf(value = "runningInDom0", disabledReason = "needs Xen dom0 (/proc/xen/capabilities with control_d);"
        + " CI machines have no Xen hypervisor")
class NativeXenControlOnXenTest {

    static final String DOMAIN_PROPERTY = "romulus.xen.test.domain";

    private static NativeXenControl xc;

    static boolean runningInDom0() {
        try {
            return Files.readString(XenLibraries.PROC_XEN_CAPABILITIES, StandardCharsets.US_ASCII)
                    .contains("control_d");
        } catch (IOException e) {
            return false;
        }
    }

    @BeforeAll
    static void open() throws XenCallException {
        xc = NativeXenControl.open();
    }

    @AfterAll
    static void close() {
        if (xc != null) {
            xc.close();
        }
    }

    /** The test guest's domid, found by name in xenstore ({@code /local/domain/ID/name}). */
    private static int guest() throws XenCallException {
        String name = System.getProperty(DOMAIN_PROPERTY);
        if (name == null || name.isBlank()) {
            fail("name a running HVM guest for these tests: -D" + DOMAIN_PROPERTY + "=NAME");
        }
        for (String id : xc.xenstoreDirectory("/local/domain")) {
            if (name.equals(xc.xenstoreRead("/local/domain/" + id + "/name"))) {
                int domid = Integer.parseInt(id);
                assertTrue(xc.domain(domid).hvm(), "domain " + name + " (" + domid + ") is not an HVM guest");
                return domid;
            }
        }
        throw new AssertionError("no domain named " + name + " in xenstore (/local/domain/*/name)");
    }

    @Test
    void xenIs417() throws XenCallException {
        assertArrayEquals(new int[] {4, 17}, xc.version());
    }

    @Test
    void dom0IsListedAndIsNotHvm() throws XenCallException {
        List<XenDomainInfo> domains = xc.domains();
        XenDomainInfo dom0 = domains.get(0);
        assertEquals(0, dom0.domid());
        assertFalse(dom0.dying());
        assertTrue(dom0.totPages() > 0);
        assertEquals(dom0.domid(), xc.domain(0).domid());
        assertEquals("Domain-0", xc.xenstoreRead("/local/domain/0/name"));
        assertNull(xc.xenstoreRead("/local/domain/0/romulus-no-such-node"));
    }

    @Test
    void pauseAndUnpauseShowInTheFlags() throws XenCallException {
        int domid = guest();
        xc.pause(domid);
        try {
            assertTrue(xc.domain(domid).paused());
        } finally {
            xc.unpause(domid);
        }
        assertFalse(xc.domain(domid).paused());
    }

    @Test
    void logDirtyReportsDirtyPagesInAscendingOrderAndCopiesThem() throws XenCallException {
        int domid = guest();
        long pages = xc.maximumGpfn(domid) + 1;
        xc.enableLogDirty(domid);
        try {
            long[] first = xc.cleanLogDirty(domid, pages, false);
            assertTrue(first.length > 0, "the first CLEAN after enabling reports the guest's pages");
            for (int i = 1; i < first.length; i++) {
                assertTrue(first[i - 1] < first[i], "pfns not ascending at " + i);
            }
            assertTrue(first[first.length - 1] < pages);
            long[] peeked = xc.peekLogDirty(domid, pages);
            long[] cleaned = xc.cleanLogDirty(domid, pages, false);
            assertTrue(cleaned.length >= peeked.length, "PEEK does not clear: CLEAN sees at least as much");

            int count = Math.min(first.length, 2 * NativeXenControl.MAP_BATCH + 3); // crosses a batch boundary
            ByteBuffer dst = ByteBuffer.allocateDirect(count * XenAbi.XC_PAGE_SIZE);
            int[] errors = new int[count];
            int failed = xc.copyPages(domid, first, 0, count, dst, errors);
            assertEquals(count * XenAbi.XC_PAGE_SIZE, dst.position());
            assertTrue(failed < count, "no page could be mapped");
        } finally {
            xc.disableLogDirty(domid);
        }
    }

    /**
     * What adoption relies on: Xen 4.17 refuses ENABLE_LOGDIRTY on a domain in log-dirty mode with EINVAL, without
     * pausing it, and the bitmap keeps what was logged before the refused call.
     */
    @Test
    void aSecondEnableIsRefusedAndKeepsTheBitmap() throws XenCallException {
        int domid = guest();
        long pages = xc.maximumGpfn(domid) + 1;
        assertTrue(xc.enableLogDirtyIfOff(domid), "the guest must not be in log-dirty mode when the test starts");
        try {
            assertFalse(xc.enableLogDirtyIfOff(domid), "EINVAL: log-dirty mode is on");
            assertFalse(xc.domain(domid).paused());
            long[] kept = xc.cleanLogDirty(domid, pages, false);
            assertTrue(kept.length > 0, "the first CLEAN after enabling still reports the guest's pages");
        } finally {
            xc.disableLogDirty(domid);
        }
    }

    @Test
    void hvmContextHasTheHeaderAndOneCpuRecordPerVcpu() throws XenCallException {
        int domid = guest();
        XenDomainInfo info = xc.domain(domid);
        HvmContext ctx = HvmContext.parse(xc.hvmContext(domid));
        assertEquals(XenAbi.HVM_FILE_MAGIC, ctx.header().magic());
        assertEquals(info.maxVcpuId() + 1, ctx.cpus().size());
        HvmContext.Cpu boot = ctx.cpus().get(0);
        assertEquals(0, boot.vcpu());
        assertTrue((boot.cr0() & 1) != 0, "a running guest's vCPU 0 is in protected mode (CR0.PE)");
    }

    @Test
    void paramsTscAndCpuPolicyAreWhatTheStreamNeeds() throws XenCallException {
        int domid = guest();
        Map<Integer, Long> params = HvmParams.saved(xc, domid);
        assertNotNull(params.get(XenAbi.HVM_PARAM_STORE_PFN), "an HVM guest has a xenstore ring: " + params);
        assertFalse(params.containsValue(0L));
        assertTrue(xc.tscInfo(domid).khz() > 0);
        XenControl.CpuPolicy policy = xc.cpuPolicy(domid);
        assertTrue(policy.cpuidLeaves().length > 0);
        assertEquals(0, policy.cpuidLeaves().length % XenAbi.CPUID_LEAF_SIZE);
        assertEquals(0, policy.msrEntries().length % XenAbi.MSR_ENTRY_SIZE);
    }
}
