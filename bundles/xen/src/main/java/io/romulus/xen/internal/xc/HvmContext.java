package io.romulus.xen.internal.xc;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An HVM context blob as {@code xc_domain_hvm_getcontext} returns it, split into its records: each is a
 * {@code struct hvm_save_descriptor {uint16 typecode; uint16 instance; uint32 length}} followed by {@code length}
 * bytes. The first record is the {@code HEADER} ({@code struct hvm_save_header}); the blob ends with an {@code END}
 * record (typecode 0). Per-vCPU state is in the {@code CPU} records ({@code struct hvm_hw_cpu}, instance = vCPU id),
 * of which {@link #cpus()} gives a view.
 *
 * <p>Layouts from {@code xen/hvm/save.h} and {@code xen/arch-x86/hvm/save.h} (Xen 4.17), little-endian.
 */
public final class HvmContext {

    /** One record: its typecode, instance and body (the bytes after the descriptor). */
    @SuppressWarnings("JavaLangClash") // Xen's name for an HVM context record
    public record Record(int typecode, int instance, byte[] body) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Record r && r.typecode == typecode && r.instance == instance
                    && Arrays.equals(r.body, body);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * typecode + instance) + Arrays.hashCode(body);
        }

        @Override
        public String toString() {
            return "Record[typecode=" + typecode + ", instance=" + instance + ", length=" + body.length + "]";
        }
    }

    /** {@code struct hvm_save_header}. */
    public record Header(int magic, int version, long changeset, int cpuid, int gtscKhz) {
    }

    /** The registers of one vCPU that Romulus reports, from its {@code CPU} record. */
    public record Cpu(int vcpu, long rip, long rsp, long rflags, long cr0, long cr3, long cr4, long efer) {
    }

    private final Header header;
    private final List<Record> records;

    private HvmContext(Header header, List<Record> records) {
        this.header = header;
        this.records = records;
    }

    /**
     * Splits {@code blob} into records, up to and including {@code END}.
     *
     * @throws IllegalArgumentException if the blob does not start with a valid {@code HEADER}, a record runs past
     *                                  the end, or there is no {@code END}
     */
    public static HvmContext parse(byte[] blob) {
        ByteBuffer b = ByteBuffer.wrap(blob).order(XenAbi.ORDER);
        List<Record> records = new ArrayList<>();
        int pos = 0;
        while (true) {
            if (blob.length - pos < XenAbi.HVM_SAVE_DESCRIPTOR_SIZE) {
                throw new IllegalArgumentException("HVM context: no END record (" + records.size()
                        + " records, " + blob.length + " bytes)");
            }
            int typecode = Short.toUnsignedInt(b.getShort(pos + XenAbi.HVM_SAVE_DESCRIPTOR_TYPECODE));
            int instance = Short.toUnsignedInt(b.getShort(pos + XenAbi.HVM_SAVE_DESCRIPTOR_INSTANCE));
            long length = Integer.toUnsignedLong(b.getInt(pos + XenAbi.HVM_SAVE_DESCRIPTOR_LENGTH));
            int body = pos + XenAbi.HVM_SAVE_DESCRIPTOR_SIZE;
            if (length > blob.length - body) {
                throw new IllegalArgumentException("HVM context: record " + records.size() + " (typecode " + typecode
                        + ") at offset " + pos + " claims " + length + " bytes; only " + (blob.length - body)
                        + " remain");
            }
            records.add(new Record(typecode, instance, Arrays.copyOfRange(blob, body, body + (int) length)));
            pos = body + (int) length;
            if (typecode == XenAbi.HVM_SAVE_CODE_END) {
                break;
            }
        }
        return new HvmContext(header(records.get(0)), List.copyOf(records));
    }

    private static Header header(Record first) {
        if (first.typecode() != XenAbi.HVM_SAVE_CODE_HEADER) {
            throw new IllegalArgumentException("HVM context: the first record has typecode " + first.typecode()
                    + ", not HEADER (" + XenAbi.HVM_SAVE_CODE_HEADER + ")");
        }
        if (first.body().length < XenAbi.HVM_SAVE_HEADER_SIZE) {
            throw new IllegalArgumentException("HVM context: HEADER record of " + first.body().length
                    + " bytes, expected " + XenAbi.HVM_SAVE_HEADER_SIZE);
        }
        ByteBuffer b = ByteBuffer.wrap(first.body()).order(XenAbi.ORDER);
        Header header = new Header(b.getInt(XenAbi.HVM_SAVE_HEADER_MAGIC), b.getInt(XenAbi.HVM_SAVE_HEADER_VERSION),
                b.getLong(XenAbi.HVM_SAVE_HEADER_CHANGESET), b.getInt(XenAbi.HVM_SAVE_HEADER_CPUID),
                b.getInt(XenAbi.HVM_SAVE_HEADER_GTSC_KHZ));
        if (header.magic() != XenAbi.HVM_FILE_MAGIC) {
            throw new IllegalArgumentException(String.format("HVM context: header magic 0x%08x, expected 0x%08x",
                    header.magic(), XenAbi.HVM_FILE_MAGIC));
        }
        return header;
    }

    public Header header() {
        return header;
    }

    /** Every record in blob order, {@code HEADER} first and {@code END} last. */
    public List<Record> records() {
        return records;
    }

    /** The records of one typecode, in blob order. */
    public List<Record> records(int typecode) {
        return records.stream().filter(r -> r.typecode() == typecode).toList();
    }

    /** The {@code CPU} records, one per vCPU, in blob order. */
    public List<Cpu> cpus() {
        List<Cpu> cpus = new ArrayList<>();
        for (Record r : records(XenAbi.HVM_SAVE_CODE_CPU)) {
            if (r.body().length < XenAbi.HVM_HW_CPU_SIZE) {
                throw new IllegalArgumentException("HVM context: CPU record for vCPU " + r.instance() + " has "
                        + r.body().length + " bytes, expected " + XenAbi.HVM_HW_CPU_SIZE);
            }
            ByteBuffer b = ByteBuffer.wrap(r.body()).order(XenAbi.ORDER);
            cpus.add(new Cpu(r.instance(), b.getLong(XenAbi.HVM_HW_CPU_RIP), b.getLong(XenAbi.HVM_HW_CPU_RSP),
                    b.getLong(XenAbi.HVM_HW_CPU_RFLAGS), b.getLong(XenAbi.HVM_HW_CPU_CR0),
                    b.getLong(XenAbi.HVM_HW_CPU_CR3), b.getLong(XenAbi.HVM_HW_CPU_CR4),
                    b.getLong(XenAbi.HVM_HW_CPU_MSR_EFER)));
        }
        return cpus;
    }
}
