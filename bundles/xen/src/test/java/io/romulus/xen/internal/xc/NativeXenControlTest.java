package io.romulus.xen.internal.xc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Memory;
import com.sun.jna.NativeLibrary;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIf;
import org.junit.jupiter.api.io.TempDir;

/** What the JNA binding does on a machine without Xen, and its pure parts (bitmap and batch handling). */
class NativeXenControlTest {

    /** A host where xc_interface_open could succeed: there the no-Xen test below has nothing to show. */
    static boolean xenDevicesPresent() {
        return Files.exists(XenLibraries.PROC_XEN_CAPABILITIES) || Files.exists(XenLibraries.DEV_XEN_PRIVCMD);
    }

    @Test
    void theFourLibrariesLoadWithEveryFunctionTheBindingCalls() throws Exception {
        XenLibraries libs = XenLibraries.load();
        assertNotNull(libs.ctrl());
        assertNotNull(libs.guest());
        assertNotNull(libs.fmem());
        assertNotNull(libs.store());
        Map<String, Class<?>> libraries = Map.of(
                XenLibraries.LIBXENCTRL, LibXenCtrl.class,
                XenLibraries.LIBXENGUEST, LibXenGuest.class,
                XenLibraries.LIBXENFOREIGNMEMORY, LibXenForeignMemory.class,
                XenLibraries.LIBXENSTORE, LibXenStore.class);
        for (Map.Entry<String, Class<?>> e : libraries.entrySet()) {
            NativeLibrary library = NativeLibrary.getInstance(e.getKey());
            for (Method m : e.getValue().getMethods()) {
                assertNotNull(library.getFunction(m.getName()), e.getKey() + " lacks " + m.getName());
            }
        }
    }

    @Test
    void aMissingLibraryNamesTheDebianPackage() {
        XenCallException e = assertThrows(XenCallException.class, () -> XenLibraries.load("libxenctrl.so.4.99",
                "libxenmisc4.17", LibXenCtrl.class, Map.of()));
        assertTrue(e.getMessage().startsWith("libxenctrl.so.4.99 not found: install Debian package libxenmisc4.17"),
                e.getMessage());
    }

    @Test
    void aLibraryWithoutTheFunctionsIsNotTakenForXen417() {
        // libxenstore has none of libxenctrl's functions: what a library of another Xen version would look like
        XenCallException e = assertThrows(XenCallException.class, () -> XenLibraries.load(
                XenLibraries.LIBXENSTORE, "libxenmisc4.17", LibXenCtrl.class, Map.of()));
        assertTrue(e.getMessage().contains("it is not the Xen 4.17 library"), e.getMessage());
    }

    /**
     * This machine (like CI) has Debian's Xen 4.17 libraries but no Xen hypervisor: the libraries load, and
     * {@code xc_interface_open} fails because there is no {@code /dev/xen/privcmd}; the message says so plainly.
     */
    @Test
    @DisabledIf(value = "xenDevicesPresent", disabledReason = "this host has Xen devices: xc_interface_open may work")
    void openOnAHostWithoutXenSaysItIsNotRunningOnXen() throws Exception {
        XenLibraries.load(); // the failure below must not be a missing library
        XenCallException e = assertThrows(XenCallException.class, NativeXenControl::open);
        String message = e.getMessage();
        assertTrue(message.startsWith("this host is not running on Xen: "), message);
        assertTrue(message.contains("/proc/xen/capabilities and /dev/xen/privcmd do not exist"), message);
        assertTrue(message.contains("must run in dom0"), message);
        assertTrue(message.contains("[xc_interface_open: "), message);
        assertFalse(message.contains("not found: install"), message);
        assertTrue(e.errno() > 0, "errno of xc_interface_open: " + e.errno());
    }

    @Test
    void aDomUIsToldItIsNotTheControlDomain(@TempDir Path dir) throws Exception {
        Path caps = Files.writeString(dir.resolve("capabilities"), "\n");
        Path privcmd = Files.createFile(dir.resolve("privcmd"));
        String message = XenLibraries.notRunningOnXen(caps, privcmd, 2);
        assertTrue(message.startsWith("this host is not running as Xen's control domain"), message);
        assertTrue(message.contains("without control_d"), message);
    }

    @Test
    void dom0WithoutPrivcmdIsToldToLoadTheModule(@TempDir Path dir) throws Exception {
        Path caps = Files.writeString(dir.resolve("capabilities"), "control_d\n");
        String message = XenLibraries.notRunningOnXen(caps, dir.resolve("privcmd"), 2);
        assertTrue(message.contains("load the xen-privcmd module"), message);
    }

    @Test
    void dom0WithoutRootIsToldToRunAsRoot(@TempDir Path dir) throws Exception {
        Path caps = Files.writeString(dir.resolve("capabilities"), "control_d\n");
        Path privcmd = Files.createFile(dir.resolve("privcmd"));
        assertTrue(XenLibraries.notRunningOnXen(caps, privcmd, 13).contains("must run as root in dom0"));
    }

    @Test
    void errnoIsNamed() {
        assertEquals("ENOENT (errno 2)", NativeXenControl.errnoText(2));
        assertEquals("ESRCH (errno 3)", NativeXenControl.errnoText(3));
        assertEquals("errno 4242", NativeXenControl.errnoText(4242));
    }

    private static LongBuffer words(long... words) {
        ByteBuffer b = ByteBuffer.allocateDirect(words.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long w : words) {
            b.putLong(w);
        }
        return b.flip().asLongBuffer();
    }

    @Test
    void dirtyBitsBecomeAscendingPfns() {
        LongBuffer bitmap = words(0b1011L, 1L << 63, 0, 0x8000_0000_0000_0001L);
        assertArrayEquals(new long[] {0, 1, 3, 127, 192, 255}, NativeXenControl.dirtyPfns(bitmap, 256));
    }

    @Test
    void bitsPastTheLastPageAreIgnored() {
        LongBuffer bitmap = words(-1L, -1L);
        assertArrayEquals(new long[] {0, 1, 2}, NativeXenControl.dirtyPfns(bitmap, 3));
        assertEquals(64, NativeXenControl.dirtyPfns(bitmap, 64).length);
        assertEquals(65, NativeXenControl.dirtyPfns(bitmap, 65).length);
        assertEquals(0, NativeXenControl.dirtyPfns(bitmap, 0).length);
    }

    @Test
    void aLargeBitmapGivesTheSamePfnsAsABitSet() {
        Random random = new Random(42);
        int pages = 1 << 20; // 4 GiB of guest memory
        BitSet dirty = new BitSet(pages);
        for (int i = 0; i < 20_000; i++) {
            dirty.set(random.nextInt(pages));
        }
        long[] raw = dirty.toLongArray();
        long[] padded = new long[pages / 64];
        System.arraycopy(raw, 0, padded, 0, raw.length);
        long[] pfns = NativeXenControl.dirtyPfns(words(padded), pages);
        assertArrayEquals(dirty.stream().asLongStream().toArray(), pfns);
    }

    @Test
    void aBatchCopiesMappedPagesAndZerosForTheOthers() {
        int page = XenAbi.XC_PAGE_SIZE;
        try (Memory mapping = new Memory(4L * page)) {
            for (int i = 0; i < 4; i++) {
                mapping.setMemory((long) i * page, page, (byte) (i + 1));
            }
            ByteBuffer dst = ByteBuffer.allocate(5 * page);
            dst.put((byte) 9); // copies start at the buffer's position
            int[] errors = {-1, -1, -1, -1, -1};
            int failed = NativeXenControl.copyBatch(mapping, new int[] {0, -2, 0, 0}, 4, dst, errors, 1);
            assertEquals(1, failed);
            assertArrayEquals(new int[] {-1, 0, 2, 0, 0}, errors);
            assertEquals(1 + 4 * page, dst.position());
            byte[] copied = dst.array();
            assertEquals(9, copied[0]);
            assertEquals(1, copied[1]);
            assertEquals(1, copied[page]);
            assertEquals(0, copied[1 + page]);
            assertEquals(0, copied[2 * page]);
            assertEquals(3, copied[1 + 2 * page]);
            assertEquals(4, copied[4 * page]);
        }
    }

    @Test
    void savedHvmParamsSkipZerosAndKeepLibxcOrder() throws Exception {
        Map<Integer, Long> values = Map.of(XenAbi.HVM_PARAM_MCA_CAP, 1L, XenAbi.HVM_PARAM_STORE_PFN, 0xfeffeL,
                XenAbi.HVM_PARAM_X87_FIP_WIDTH, 8L);
        List<Integer> asked = new ArrayList<>();
        XenControl xc = (XenControl) Proxy.newProxyInstance(XenControl.class.getClassLoader(),
                new Class<?>[] {XenControl.class}, (proxy, method, args) -> {
                    if (!method.getName().equals("hvmParam")) {
                        throw new UnsupportedOperationException(method.getName());
                    }
                    assertEquals(5, args[0]);
                    asked.add((Integer) args[1]);
                    return values.getOrDefault((Integer) args[1], 0L);
                });
        Map<Integer, Long> saved = HvmParams.saved(xc, 5);
        assertEquals(List.of(XenAbi.HVM_PARAM_STORE_PFN, XenAbi.HVM_PARAM_X87_FIP_WIDTH, XenAbi.HVM_PARAM_MCA_CAP),
                List.copyOf(saved.keySet()));
        assertEquals(0xfeffeL, saved.get(XenAbi.HVM_PARAM_STORE_PFN));
        assertEquals(HvmParams.SAVED.length, asked.size());
    }
}
