package io.romulus.xen.internal.xc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Splitting an HVM context blob, and what a damaged blob is told (the golden sample is in XenAbiGoldenTest). */
class HvmContextTest {

    /** Appends one record: descriptor, then the body. */
    private static void record(ByteArrayOutputStream out, int typecode, int instance, byte[] body) {
        ByteBuffer d = ByteBuffer.allocate(XenAbi.HVM_SAVE_DESCRIPTOR_SIZE).order(XenAbi.ORDER);
        d.putShort((short) typecode).putShort((short) instance).putInt(body.length);
        out.writeBytes(d.array());
        out.writeBytes(body);
    }

    private static byte[] header(int magic) {
        return ByteBuffer.allocate(XenAbi.HVM_SAVE_HEADER_SIZE).order(XenAbi.ORDER)
                .putInt(magic).putInt(1).putLong(0).putInt(0x806ec).putInt(1_000_000).array();
    }

    private static byte[] cpu(long rip) {
        return ByteBuffer.allocate(XenAbi.HVM_HW_CPU_SIZE).order(XenAbi.ORDER)
                .putLong(XenAbi.HVM_HW_CPU_RIP, rip).array();
    }

    @Test
    void recordsOfEveryTypeAreKeptInOrderAndCpusAreOnePerVcpu() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        record(out, XenAbi.HVM_SAVE_CODE_HEADER, 0, header(XenAbi.HVM_FILE_MAGIC));
        record(out, XenAbi.HVM_SAVE_CODE_CPU, 0, cpu(0x1000));
        record(out, XenAbi.HVM_SAVE_CODE_CPU, 1, cpu(0x2000));
        record(out, 3, 0, new byte[] {1, 2, 3, 4, 5, 6, 7, 8}); // PIC
        record(out, XenAbi.HVM_SAVE_CODE_END, 0, new byte[0]);
        HvmContext ctx = HvmContext.parse(out.toByteArray());
        assertEquals(5, ctx.records().size());
        assertEquals(1_000_000, ctx.header().gtscKhz());
        assertEquals(List.of(0, 1), ctx.cpus().stream().map(HvmContext.Cpu::vcpu).toList());
        assertEquals(List.of(0x1000L, 0x2000L), ctx.cpus().stream().map(HvmContext.Cpu::rip).toList());
        assertEquals(new HvmContext.Record(3, 0, new byte[] {1, 2, 3, 4, 5, 6, 7, 8}), ctx.records(3).get(0));
    }

    @Test
    void aBlobWithoutEndIsRefused() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        record(out, XenAbi.HVM_SAVE_CODE_HEADER, 0, header(XenAbi.HVM_FILE_MAGIC));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HvmContext.parse(out.toByteArray()));
        assertTrue(e.getMessage().contains("no END record"), e.getMessage());
    }

    @Test
    void aRecordLongerThanTheBlobIsRefused() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        record(out, XenAbi.HVM_SAVE_CODE_HEADER, 0, header(XenAbi.HVM_FILE_MAGIC));
        byte[] blob = out.toByteArray();
        ByteBuffer.wrap(blob).order(XenAbi.ORDER).putInt(XenAbi.HVM_SAVE_DESCRIPTOR_LENGTH, 4096);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HvmContext.parse(blob));
        assertTrue(e.getMessage().contains("claims 4096 bytes"), e.getMessage());
    }

    @Test
    void aBlobThatDoesNotStartWithTheHeaderIsRefused() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        record(out, XenAbi.HVM_SAVE_CODE_CPU, 0, cpu(0));
        record(out, XenAbi.HVM_SAVE_CODE_END, 0, new byte[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HvmContext.parse(out.toByteArray()));
        assertTrue(e.getMessage().contains("not HEADER"), e.getMessage());
    }

    @Test
    void aWrongMagicIsRefused() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        record(out, XenAbi.HVM_SAVE_CODE_HEADER, 0, header(0x12345678));
        record(out, XenAbi.HVM_SAVE_CODE_END, 0, new byte[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HvmContext.parse(out.toByteArray()));
        assertTrue(e.getMessage().contains("magic 0x12345678, expected 0x54381286"), e.getMessage());
    }

    @Test
    void aShortCpuRecordIsRefusedWhenCpusAreAskedFor() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        record(out, XenAbi.HVM_SAVE_CODE_HEADER, 0, header(XenAbi.HVM_FILE_MAGIC));
        record(out, XenAbi.HVM_SAVE_CODE_CPU, 2, new byte[16]);
        record(out, XenAbi.HVM_SAVE_CODE_END, 0, new byte[0]);
        HvmContext ctx = HvmContext.parse(out.toByteArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, ctx::cpus);
        assertTrue(e.getMessage().contains("vCPU 2 has 16 bytes"), e.getMessage());
    }
}
