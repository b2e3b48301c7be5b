package io.romulus.xen.internal.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.xen.internal.xc.XenControl.TscInfo;

/**
 * The writer checked by the independent parser: images written by {@link ReplicaImage} over several commits, with
 * random pages in several regions and a pfn space with holes, parse strictly and hold exactly what was written.
 */
class ImageCrossCheckTest {

    /** 2600 slots: three regions, the last one partial; holes at 600..999 and 3000..8191. */
    private static final long[] RANGES = {0, 600, 1000, 2000, 8192, 8184 - 8192 + 16};

    @TempDir
    Path tmp;

    @Test
    void everyCommitIsAStrictlyValidImageOfWhatWasWritten() throws Exception {
        XenDeviceState first = state("<domain type='xen'><name>db</name><uuid>u</uuid></domain>", States.bytes(9000, 1),
                "physmap/f0/start_addr\0f0000000\0physmap/f0/size\0800000\0physmap/f0/name\0vga.vram\0",
                States.bytes(70_000, 2));
        long slots = first.slotCount();
        assertEquals(2608, slots);
        byte[][] memory = new byte[(int) slots][];
        SplittableRandom random = new SplittableRandom(7);
        Path file = tmp.resolve("db.xenimg");
        try (ReplicaImage image = ReplicaImage.create(file, slots)) {
            // the initial copy: every slot, in batches of 300
            for (int from = 0; from < slots; from += 300) {
                int n = (int) Math.min(300, slots - from);
                long[] batch = new long[n];
                ByteBuffer pages = ByteBuffer.allocate(n * 4096);
                for (int i = 0; i < n; i++) {
                    batch[i] = (long) from + i;
                    memory[from + i] = random(random, from + i);
                    pages.put(memory[from + i]);
                }
                pages.flip();
                image.writePages(batch, 0, n, pages);
            }
            image.apply(first);
            check(file, first, memory);

            // three more epochs: a few dirty slots each, a new context, then a state without a device model
            for (int epoch = 1; epoch <= 3; epoch++) {
                long[] dirty = random.longs(40, 0, slots).distinct().sorted().toArray();
                ByteBuffer pages = ByteBuffer.allocate(dirty.length * 4096);
                for (long s : dirty) {
                    memory[(int) s] = random(random, s);
                    pages.put(memory[(int) s]);
                }
                pages.flip();
                image.writePages(dirty, 0, dirty.length, pages);
                XenDeviceState next = epoch < 3
                        ? state("<domain type='xen'><name>db</name></domain>", States.bytes(9000 + epoch * 100, epoch),
                                "physmap/f0/start_addr\0f0000000\0physmap/f0/size\0800000\0physmap/f0/name\0vga\0",
                                States.bytes(60_000, 10 + epoch))
                        : state("<domain type='xen'><name>db</name></domain>", States.bytes(5000, 99), null, null);
                image.apply(next);
                check(file, next, memory);
            }
        }
    }

    private static byte[] random(SplittableRandom random, long slot) {
        byte[] page = new byte[4096];
        if (slot % 5 != 0) { // every fifth page stays zero, as much of a guest's memory is
            for (int i = 0; i < page.length; i += 8) {
                page[i] = (byte) random.nextInt();
            }
        }
        return page;
    }

    private static XenDeviceState state(String xml, byte[] context, String xenstore, byte[] emulator) {
        return new XenDeviceState(4, 17, StreamFormat.DOMAIN_X86_PVH, xml, RANGES, States.bytes(5 * 24, 3),
                States.bytes(3 * 16, 4), new TscInfo(1, 2_400_000, 987_654_321L, 2), new long[] {1, 0xfeffc, 5, 1},
                context, xenstore == null ? null : xenstore.getBytes(StandardCharsets.US_ASCII), emulator);
    }

    private static void check(Path file, XenDeviceState state, byte[][] memory) throws Exception {
        try (ParsedImage parsed = XenImageParser.parse(file)) {
            assertEquals(2, parsed.libvirtVersion());
            assertEquals(state.domainXml(), parsed.xml());
            assertEquals(3, parsed.libxcVersion());
            assertEquals(StreamFormat.DOMAIN_X86_HVM, parsed.domainType(), "libxc knows PVH as an HVM container");
            assertEquals(17, parsed.xenMinor());
            assertTrue(parsed.staticDataEndSeen());
            assertArrayEquals(state.cpuidPolicy(), parsed.cpuidPolicy());
            assertArrayEquals(state.msrPolicy(), parsed.msrPolicy());
            assertEquals(new ParsedImage.Tsc(1, 2_400_000, 987_654_321L, 2), parsed.tsc());
            assertEquals(0xfeffcL, parsed.hvmParams().get(1L));
            assertEquals(1L, parsed.hvmParams().get(5L));
            assertArrayEquals(state.hvmContext(), parsed.hvmContext());
            if (state.emulatorContext() == null) {
                assertNull(parsed.emulatorContext());
                assertNull(parsed.emulatorXenstore());
            } else {
                assertArrayEquals(state.emulatorContext(), parsed.emulatorContext());
                assertEquals(2, parsed.emulatorId(), "QEMU upstream");
                assertEquals(List.of("physmap/f0/start_addr", "physmap/f0/size", "physmap/f0/name"),
                        parsed.emulatorXenstore().stream().map(ParsedImage.XenstoreEntry::key).toList());
            }
            long[] pfns = parsed.pfns();
            assertEquals(memory.length, pfns.length);
            for (int slot = 0; slot < memory.length; slot++) {
                long pfn = state.gpfn(slot);
                assertEquals(pfn, pfns[slot], "pfns ascend with slots");
                assertEquals(0, parsed.pfnType(pfn), "NOTAB");
                assertArrayEquals(memory[slot], parsed.page(pfn), "slot " + slot + ", pfn " + pfn);
            }
            assertNull(parsed.page(700), "a hole is not in the image");
            assertTrue(parsed.skippedOptional(ParsedImage.Layer.LIBXC) >= 3, "padding records");
            assertEquals(0, parsed.skippedOptional(ParsedImage.Layer.LIBXL), "libxl restore refuses optional records");
        }
    }
}
