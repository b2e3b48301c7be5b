package io.romulus.xen.internal.image;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.xen.internal.xc.XenControl.TscInfo;

/**
 * Everything but memory that a Xen replica needs to be restorable: the opaque device state of the hypervisor SPI for
 * the {@code xen} binding, captured by the primary at the end of each epoch and applied by the backup with the epoch.
 * Each state is self-contained (nothing is "unchanged since last time"), so that any one committed epoch alone makes
 * a complete image.
 *
 * <p>The arrays are held as given, not copied (a state is built once per epoch and can be large): whoever builds one
 * must not change the arrays afterwards. {@link #equals}, {@link #hashCode} and {@link #toString} look at their
 * contents. {@link #encode()} and {@link #decode(byte[])} carry a state from primary to backup.
 *
 * @param xenMajor          Xen's major version on the primary (the image's domain header)
 * @param xenMinor          Xen's minor version
 * @param domainType        {@link StreamFormat#DOMAIN_X86_HVM} or {@link StreamFormat#DOMAIN_X86_PVH}
 * @param domainXml         libvirt's XML of the domain (with secure parts), for the image's libvirt header
 * @param gpfnRanges        the guest's populated page frames as pairs {@code start, count}, ascending and disjoint:
 *                          engine page {@code i} (a slot of the replica) is the {@code i}-th populated guest pfn
 * @param cpuidPolicy       the {@code X86_CPUID_POLICY} record body ({@code xen_cpuid_leaf_t[]}), may be empty
 * @param msrPolicy         the {@code X86_MSR_POLICY} record body ({@code xen_msr_entry_t[]}), may be empty
 * @param tsc               the {@code X86_TSC_INFO} record
 * @param hvmParams         the {@code HVM_PARAMS} record as pairs {@code index, value}
 * @param hvmContext        the {@code HVM_CONTEXT} blob
 * @param emulatorXenstore  the device model's xenstore keys as packed NUL-terminated key/value pairs
 *                          ({@code EMULATOR_XENSTORE_DATA}), or {@code null} when the domain has no device model
 * @param emulatorContext   the device model's saved state ({@code EMULATOR_CONTEXT}), or {@code null} when none
 */
public record XenDeviceState(int xenMajor, int xenMinor, int domainType, String domainXml, long[] gpfnRanges,
                             byte[] cpuidPolicy, byte[] msrPolicy, TscInfo tsc, long[] hvmParams, byte[] hvmContext,
                             byte[] emulatorXenstore, byte[] emulatorContext) {

    /** {@code "RXDS"}: the first four bytes of an encoded state. */
    private static final int MAGIC = 0x52584453;
    /** Version of the encoding; {@link #decode} refuses any other. */
    private static final int VERSION = 1;
    /** Length written for an absent ({@code null}) byte array. */
    private static final int ABSENT = -1;

    /** Checks what the image format needs: see the parameters. */
    public XenDeviceState {
        if (domainType != StreamFormat.DOMAIN_X86_HVM && domainType != StreamFormat.DOMAIN_X86_PVH) {
            throw new IllegalArgumentException("domain type " + domainType + " is neither x86 HVM ("
                    + StreamFormat.DOMAIN_X86_HVM + ") nor x86 PVH (" + StreamFormat.DOMAIN_X86_PVH + ")");
        }
        Objects.requireNonNull(domainXml, "domainXml");
        checkRanges(Objects.requireNonNull(gpfnRanges, "gpfnRanges"));
        Objects.requireNonNull(cpuidPolicy, "cpuidPolicy");
        Objects.requireNonNull(msrPolicy, "msrPolicy");
        Objects.requireNonNull(tsc, "tsc");
        if (Objects.requireNonNull(hvmParams, "hvmParams").length % 2 != 0) {
            throw new IllegalArgumentException("hvmParams holds index, value pairs, but has an odd length "
                    + hvmParams.length);
        }
        Objects.requireNonNull(hvmContext, "hvmContext");
    }

    private static void checkRanges(long[] ranges) {
        if (ranges.length == 0 || ranges.length % 2 != 0) {
            throw new IllegalArgumentException("gpfnRanges holds start, count pairs and at least one, but has length "
                    + ranges.length);
        }
        long next = 0;
        for (int i = 0; i < ranges.length; i += 2) {
            long start = ranges[i];
            long count = ranges[i + 1];
            if (count <= 0) {
                throw new IllegalArgumentException("gpfn range " + i / 2 + " has count " + count);
            }
            if (start < next) {
                throw new IllegalArgumentException("gpfn range " + i / 2 + " starts at " + Long.toHexString(start)
                        + ", not after the previous range's end " + Long.toHexString(next)
                        + ": ranges must be ascending and disjoint");
            }
            if (start > StreamFormat.PFN_MASK || count > StreamFormat.PFN_MASK + 1 - start) {
                throw new IllegalArgumentException("gpfn range " + i / 2 + " (" + Long.toHexString(start) + ", "
                        + count + ") goes beyond the 52-bit pfns of an image");
            }
            next = start + count;
        }
    }

    /** How many populated guest pages there are: the replica's slots. */
    public long slotCount() {
        long n = 0;
        for (int i = 1; i < gpfnRanges.length; i += 2) {
            n += gpfnRanges[i];
        }
        return n;
    }

    /** The guest pfn of slot {@code slot}: the {@code slot}-th populated pfn. */
    public long gpfn(long slot) {
        long left = Objects.checkIndex(slot, slotCount());
        int i = 0;
        while (left >= gpfnRanges[i + 1]) {
            left -= gpfnRanges[i + 1];
            i += 2;
        }
        return gpfnRanges[i] + left;
    }

    /** This state in Romulus's own versioned binary form, for {@link #decode}. */
    public byte[] encode() {
        byte[] xml = domainXml.getBytes(StandardCharsets.UTF_8);
        int size = 8 + 3 * Integer.BYTES + lengthOf(xml) + lengthOf(gpfnRanges) + lengthOf(cpuidPolicy)
                + lengthOf(msrPolicy) + 3 * Integer.BYTES + Long.BYTES + lengthOf(hvmParams) + lengthOf(hvmContext)
                + lengthOf(emulatorXenstore) + lengthOf(emulatorContext);
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putInt(VERSION);
        b.putInt(xenMajor).putInt(xenMinor).putInt(domainType);
        putBytes(b, xml);
        putLongs(b, gpfnRanges);
        putBytes(b, cpuidPolicy);
        putBytes(b, msrPolicy);
        b.putInt(tsc.mode()).putInt(tsc.khz()).putLong(tsc.nsec()).putInt(tsc.incarnation());
        putLongs(b, hvmParams);
        putBytes(b, hvmContext);
        putBytes(b, emulatorXenstore);
        putBytes(b, emulatorContext);
        assert !b.hasRemaining();
        return b.array();
    }

    /**
     * The state {@link #encode()} wrote.
     *
     * @throws HypervisorException when {@code bytes} is not an encoded state of this version, is truncated, has bytes
     *                             left over or holds a state this class refuses
     */
    public static XenDeviceState decode(byte[] bytes) throws HypervisorException {
        Reader r = new Reader(ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN));
        if (r.int32("magic") != MAGIC) {
            throw malformed("it does not start with the magic \"RXDS\"");
        }
        int version = r.int32("version");
        if (version != VERSION) {
            throw malformed("its version is " + version + ", this node reads version " + VERSION);
        }
        int xenMajor = r.int32("xenMajor");
        int xenMinor = r.int32("xenMinor");
        int domainType = r.int32("domainType");
        String xml = r.utf8("domainXml");
        long[] ranges = r.longs("gpfnRanges");
        byte[] cpuid = r.bytes("cpuidPolicy", false);
        byte[] msr = r.bytes("msrPolicy", false);
        TscInfo tsc = new TscInfo(r.int32("tsc.mode"), r.int32("tsc.khz"), r.int64("tsc.nsec"),
                r.int32("tsc.incarnation"));
        long[] params = r.longs("hvmParams");
        byte[] context = r.bytes("hvmContext", false);
        byte[] xenstore = r.bytes("emulatorXenstore", true);
        byte[] emulator = r.bytes("emulatorContext", true);
        if (r.buffer.hasRemaining()) {
            throw malformed(r.buffer.remaining() + " bytes follow the last field");
        }
        try {
            return new XenDeviceState(xenMajor, xenMinor, domainType, xml, ranges, cpuid, msr, tsc, params, context,
                    xenstore, emulator);
        } catch (IllegalArgumentException e) {
            throw new HypervisorException("Xen device state is invalid: " + e.getMessage(), e);
        }
    }

    private static HypervisorException malformed(String why) {
        return new HypervisorException("Xen device state is malformed: " + why);
    }

    private static int lengthOf(byte[] a) {
        return Integer.BYTES + (a == null ? 0 : a.length);
    }

    private static int lengthOf(long[] a) {
        return Integer.BYTES + a.length * Long.BYTES;
    }

    private static void putBytes(ByteBuffer b, byte[] a) {
        if (a == null) {
            b.putInt(ABSENT);
        } else {
            b.putInt(a.length).put(a);
        }
    }

    private static void putLongs(ByteBuffer b, long[] a) {
        b.putInt(a.length);
        b.asLongBuffer().put(a);
        b.position(b.position() + a.length * Long.BYTES);
    }

    /** Reads the fields of an encoded state, checking every length against what is left. */
    private record Reader(ByteBuffer buffer) {

        int int32(String field) throws HypervisorException {
            need(field, Integer.BYTES);
            return buffer.getInt();
        }

        long int64(String field) throws HypervisorException {
            need(field, Long.BYTES);
            return buffer.getLong();
        }

        byte[] bytes(String field, boolean nullable) throws HypervisorException {
            int n = int32(field + " length");
            if (n == ABSENT && nullable) {
                return null;
            }
            if (n < 0) {
                throw malformed(field + " has length " + n);
            }
            need(field, n);
            byte[] a = new byte[n];
            buffer.get(a);
            return a;
        }

        long[] longs(String field) throws HypervisorException {
            int n = int32(field + " count");
            if (n < 0 || n > buffer.remaining() / Long.BYTES) {
                throw malformed(field + " claims " + n + " values, " + buffer.remaining() + " bytes are left");
            }
            long[] a = new long[n];
            buffer.asLongBuffer().get(a);
            buffer.position(buffer.position() + n * Long.BYTES);
            return a;
        }

        String utf8(String field) throws HypervisorException {
            byte[] a = bytes(field, false);
            try {
                CharBuffer chars = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(a));
                return chars.toString();
            } catch (CharacterCodingException e) {
                throw new HypervisorException("Xen device state is malformed: " + field + " is not UTF-8", e);
            }
        }

        private void need(String field, int n) throws HypervisorException {
            if (buffer.remaining() < n) {
                throw malformed("truncated: " + field + " needs " + n + " bytes, " + buffer.remaining()
                        + " are left");
            }
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof XenDeviceState s
                && xenMajor == s.xenMajor && xenMinor == s.xenMinor && domainType == s.domainType
                && domainXml.equals(s.domainXml) && Arrays.equals(gpfnRanges, s.gpfnRanges)
                && Arrays.equals(cpuidPolicy, s.cpuidPolicy) && Arrays.equals(msrPolicy, s.msrPolicy)
                && tsc.equals(s.tsc) && Arrays.equals(hvmParams, s.hvmParams)
                && Arrays.equals(hvmContext, s.hvmContext) && Arrays.equals(emulatorXenstore, s.emulatorXenstore)
                && Arrays.equals(emulatorContext, s.emulatorContext);
    }

    @Override
    public int hashCode() {
        int h = Objects.hash(xenMajor, xenMinor, domainType, domainXml, tsc);
        h = 31 * h + Arrays.hashCode(gpfnRanges);
        h = 31 * h + Arrays.hashCode(cpuidPolicy);
        h = 31 * h + Arrays.hashCode(msrPolicy);
        h = 31 * h + Arrays.hashCode(hvmParams);
        h = 31 * h + Arrays.hashCode(hvmContext);
        h = 31 * h + Arrays.hashCode(emulatorXenstore);
        return 31 * h + Arrays.hashCode(emulatorContext);
    }

    /** The sizes of the parts, not their contents (a context is kilobytes of binary). */
    @Override
    public String toString() {
        return "XenDeviceState[xen " + xenMajor + "." + xenMinor
                + (domainType == StreamFormat.DOMAIN_X86_PVH ? ", PVH" : ", HVM")
                + ", xml " + domainXml.length() + " chars, " + gpfnRanges.length / 2 + " gpfn ranges of "
                + slotCount() + " pages, cpuid " + cpuidPolicy.length + " B, msr " + msrPolicy.length + " B, " + tsc
                + ", " + hvmParams.length / 2 + " hvm params, hvm context " + hvmContext.length + " B, "
                + sizeOf(emulatorXenstore, "emulator xenstore") + ", " + sizeOf(emulatorContext, "emulator context")
                + "]";
    }

    private static String sizeOf(byte[] a, String what) {
        return a == null ? "no " + what : what + " " + a.length + " B";
    }
}
