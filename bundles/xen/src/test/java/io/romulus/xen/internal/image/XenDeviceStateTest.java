package io.romulus.xen.internal.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;

import io.romulus.api.hypervisor.HypervisorException;

import org.junit.jupiter.api.Test;

/** The device state's checks, its encoding between primary and backup, and its slot to pfn mapping. */
class XenDeviceStateTest {

    private static final long[] RANGES = {0, 10, 0x100, 5, 0x1000, 1};

    @Test
    void roundTripKeepsEveryPart() throws HypervisorException {
        XenDeviceState state = States.full(RANGES);
        XenDeviceState back = XenDeviceState.decode(state.encode());
        assertEquals(state, back);
        assertEquals(state.hashCode(), back.hashCode());
        assertEquals("<domain type='xen'><name>vm1</name></domain>", back.domainXml());
    }

    @Test
    void roundTripKeepsAbsentEmulatorPartsAbsent() throws HypervisorException {
        XenDeviceState pvh = new XenDeviceState(4, 17, StreamFormat.DOMAIN_X86_PVH, "<domain>\u00e9</domain>", RANGES,
                new byte[0], new byte[0], States.TSC, new long[0], States.bytes(100, 9), null, null);
        XenDeviceState back = XenDeviceState.decode(pvh.encode());
        assertEquals(pvh, back);
        assertEquals(null, back.emulatorXenstore());
        assertEquals(null, back.emulatorContext());
    }

    @Test
    void equalityLooksAtArrayContents() {
        XenDeviceState a = States.full(RANGES);
        XenDeviceState b = States.full(RANGES.clone());
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, States.state(a.domainXml(), RANGES, a.cpuidPolicy(), a.msrPolicy(), States.bytes(1234, 7),
                a.emulatorXenstore(), a.emulatorContext()));
        assertNotEquals(a, States.state(a.domainXml(), RANGES, a.cpuidPolicy(), a.msrPolicy(), a.hvmContext(),
                a.emulatorXenstore(), null));
    }

    @Test
    void toStringGivesSizesNotContents() {
        String s = States.full(RANGES).toString();
        assertTrue(s.contains("hvm context 1234 B"), s);
        assertTrue(s.contains("16 pages"), s);
        assertTrue(s.length() < 400, s);
    }

    @Test
    void everyTruncationIsRefusedWithAMessage() {
        byte[] encoded = States.full(RANGES).encode();
        for (int n = 0; n < encoded.length; n++) {
            byte[] prefix = Arrays.copyOf(encoded, n);
            HypervisorException e = assertThrows(HypervisorException.class, () -> XenDeviceState.decode(prefix),
                    "prefix of " + n + " bytes");
            assertTrue(e.getMessage().startsWith("Xen device state is malformed"), e.getMessage());
        }
    }

    @Test
    void garbageIsRefused() {
        Random random = new Random(42);
        for (int i = 0; i < 2000; i++) {
            byte[] garbage = new byte[random.nextInt(200)];
            random.nextBytes(garbage);
            if (garbage.length >= 8 && random.nextBoolean()) {
                // past the magic and version, so that the fields are what is garbage
                ByteBuffer.wrap(garbage).order(ByteOrder.LITTLE_ENDIAN).putInt(0x52584453).putInt(1);
            }
            assertThrows(HypervisorException.class, () -> XenDeviceState.decode(garbage));
        }
    }

    @Test
    void wrongMagicVersionTrailingBytesAndLengthsAreRefused() {
        byte[] good = States.full(RANGES).encode();
        assertMalformed(patchInt(good, 0, 0x12345678), "magic");
        assertMalformed(patchInt(good, 4, 2), "version is 2");
        assertMalformed(Arrays.copyOf(good, good.length + 1), "1 bytes follow");
        assertMalformed(patchInt(good, 20, -5), "domainXml has length -5");
        assertMalformed(patchInt(good, 20, Integer.MAX_VALUE), "truncated: domainXml needs");
        byte[] notUtf8 = good.clone();
        notUtf8[24] = (byte) 0xff;
        assertMalformed(notUtf8, "not UTF-8");
    }

    @Test
    void decodedStateIsCheckedLikeABuiltOne() {
        byte[] typeSeven = patchInt(States.full(RANGES).encode(), 16, 7);
        HypervisorException e = assertThrows(HypervisorException.class, () -> XenDeviceState.decode(typeSeven));
        assertTrue(e.getMessage().contains("domain type 7"), e.getMessage());
    }

    private static byte[] patchInt(byte[] bytes, int offset, int value) {
        byte[] b = bytes.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(offset, value);
        return b;
    }

    private static void assertMalformed(byte[] bytes, String what) {
        HypervisorException e = assertThrows(HypervisorException.class, () -> XenDeviceState.decode(bytes));
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }

    @Test
    void rangesMustBeAscendingDisjointAndNonEmpty() {
        assertRefused(new long[0]);
        assertRefused(new long[] {0});
        assertRefused(new long[] {0, 0});
        assertRefused(new long[] {0, -1});
        assertRefused(new long[] {0, 10, 5, 10});
        assertRefused(new long[] {0x100, 1, 0, 1});
        assertRefused(new long[] {-1, 1});
        assertRefused(new long[] {StreamFormat.PFN_MASK, 2});
        States.full(new long[] {0, 10, 10, 1}); // adjacent is fine
    }

    private static void assertRefused(long[] ranges) {
        assertThrows(IllegalArgumentException.class, () -> States.full(ranges), Arrays.toString(ranges));
    }

    @Test
    void otherPartsAreChecked() {
        XenDeviceState s = States.full(RANGES);
        assertThrows(IllegalArgumentException.class, () -> new XenDeviceState(4, 19, 1, s.domainXml(), RANGES,
                s.cpuidPolicy(), s.msrPolicy(), s.tsc(), s.hvmParams(), s.hvmContext(), null, null));
        assertThrows(IllegalArgumentException.class, () -> new XenDeviceState(4, 19, 2, s.domainXml(), RANGES,
                s.cpuidPolicy(), s.msrPolicy(), s.tsc(), new long[] {1, 2, 3}, s.hvmContext(), null, null));
        assertThrows(NullPointerException.class, () -> new XenDeviceState(4, 19, 2, null, RANGES,
                s.cpuidPolicy(), s.msrPolicy(), s.tsc(), s.hvmParams(), s.hvmContext(), null, null));
        assertThrows(NullPointerException.class, () -> new XenDeviceState(4, 19, 2, s.domainXml(), RANGES,
                s.cpuidPolicy(), s.msrPolicy(), null, s.hvmParams(), s.hvmContext(), null, null));
        assertThrows(NullPointerException.class, () -> new XenDeviceState(4, 19, 2, s.domainXml(), RANGES,
                s.cpuidPolicy(), s.msrPolicy(), s.tsc(), s.hvmParams(), null, null, null));
    }

    @Test
    void slotsMapToPopulatedPfnsInOrder() {
        XenDeviceState s = States.full(RANGES);
        assertEquals(16, s.slotCount());
        assertEquals(0, s.gpfn(0));
        assertEquals(9, s.gpfn(9));
        assertEquals(0x100, s.gpfn(10));
        assertEquals(0x104, s.gpfn(14));
        assertEquals(0x1000, s.gpfn(15));
        assertThrows(IndexOutOfBoundsException.class, () -> s.gpfn(16));
        assertThrows(IndexOutOfBoundsException.class, () -> s.gpfn(-1));
        assertFalse(s.equals(null));
    }
}
