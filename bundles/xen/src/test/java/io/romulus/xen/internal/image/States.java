package io.romulus.xen.internal.image;

import java.util.Random;

import io.romulus.xen.internal.xc.XenControl.TscInfo;

/** Device states for tests: an HVM domain on Xen 4.19 with what a real capture holds, in sizes a test picks. */
final class States {

    static final TscInfo TSC = new TscInfo(0, 2_400_000, 123_456_789L, 1);
    static final long[] PARAMS = {1, 0xfeffc, 2, 0xfeffd};

    private States() {
    }

    /** {@code length} pseudo-random bytes from {@code seed}: the same seed gives the same bytes. */
    static byte[] bytes(int length, int seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    static XenDeviceState state(String xml, long[] ranges, byte[] cpuid, byte[] msr, byte[] hvmContext,
                                byte[] xenstore, byte[] emulator) {
        return new XenDeviceState(4, 19, StreamFormat.DOMAIN_X86_HVM, xml, ranges, cpuid, msr, TSC, PARAMS, hvmContext,
                xenstore, emulator);
    }

    /** A state with every part present. */
    static XenDeviceState full(long[] ranges) {
        return state("<domain type='xen'><name>vm1</name></domain>", ranges, bytes(3 * 24, 1), bytes(2 * 16, 2),
                bytes(1234, 3), "platform/acpi\0001\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                bytes(5000, 4));
    }
}
