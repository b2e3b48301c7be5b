package io.romulus.xen.internal.image;

import static io.romulus.xen.internal.image.Hex.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;

import io.romulus.xen.internal.image.ImageWalk.Rec;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The replica image file: where pages land, what an apply writes and rewrites, and what it refuses. */
class ReplicaImageTest {

    /** Three regions: 1024, 1024 and 452 slots. */
    private static final long SLOTS = 2500;
    private static final long[] RANGES = {0, 2048, 0x10000, 452};
    /** Where the tail of a 2500-slot image starts: 320 KiB + 2 regions of (12 KiB + 4 MiB) + 12 KiB + 452 pages. */
    private static final long TAIL = 327_680 + 2 * 4_206_592 + 12_288 + 452 * 4096;
    /** The tail of {@link States#full}: TSC 32, params 8 + 40, context 8 + 1240, END 8, xenstore 32, emulator 5016, END 8. */
    private static final long FULL_TAIL = 32 + 48 + 1248 + 8 + 32 + 5016 + 8;
    private static final int PAD = StreamFormat.REC_ROMULUS_PADDING;

    @TempDir
    Path dir;
    private Path file;

    @BeforeEach
    void names() {
        file = dir.resolve("vm1.xen");
    }

    private static ByteBuffer pages(int... fills) {
        ByteBuffer b = ByteBuffer.allocate(fills.length * 4096);
        for (int fill : fills) {
            byte[] page = new byte[4096];
            Arrays.fill(page, (byte) fill);
            b.put(page);
        }
        return b.flip();
    }

    private byte[] fileBytes(long offset, int length) throws IOException {
        try (FileChannel c = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            while (b.hasRemaining() && c.read(b, offset + b.position()) >= 0) {
                // reading on
            }
            return b.array();
        }
    }

    private void poke(long offset, long value) throws IOException {
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.WRITE)) {
            c.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), offset);
        }
    }

    private long pfnAt(long slot) throws IOException {
        long region = slot / 1024;
        long offset = ImageLayout.pfnArrayOffset(SLOTS, region) + (slot % 1024) * 8;
        return ByteBuffer.wrap(fileBytes(offset, 8)).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Test
    void layoutConstantsAreFixed() {
        assertEquals(262_144, ImageLayout.XML_CAPACITY);
        assertEquals(262_208, ImageLayout.LIBXL_HEADER_OFFSET);
        assertEquals(262_232, ImageLayout.IMAGE_HEADER_OFFSET);
        assertEquals(262_256, ImageLayout.DOMAIN_HEADER_OFFSET);
        assertEquals(262_272, ImageLayout.STATIC_OFFSET);
        assertEquals(65_408, ImageLayout.STATIC_CAPACITY);
        assertEquals(327_680, ImageLayout.FIRST_REGION_OFFSET);
        assertEquals(4_206_592, ImageLayout.REGION_STRIDE);
        assertEquals(339_968, ImageLayout.pageOffset(0));
        assertEquals(339_968 + 1023 * 4096, ImageLayout.pageOffset(1023));
        assertEquals(4_546_560, ImageLayout.pageOffset(1024));
        assertEquals(10_600_448, ImageLayout.pageOffset(2499));
        assertEquals(TAIL, ImageLayout.tailOffset(SLOTS));
        assertEquals(3, ImageLayout.regionCount(SLOTS));
        assertEquals(452, ImageLayout.regionPages(SLOTS, 2));
        // the PAGE_DATA record of a full region: 12 KiB head minus pfns (8192), count/reserved (8) and header (8)
        assertEquals(327_680 + 12_288 - 8192 - 16, ImageLayout.pageDataOffset(SLOTS, 0));
        for (long slot = 0; slot < SLOTS; slot += 7) {
            assertEquals(0, ImageLayout.pageOffset(slot) % 4096, "page of slot " + slot + " is page-aligned");
        }
    }

    @Test
    void createdImageHasTheHeadersAndEndsAtTheTail() throws IOException {
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            assertFalse(image.applied());
            assertEquals(SLOTS, image.slotCount());
            assertEquals(file, image.file());
        }
        assertTrue(Files.exists(file), "closing keeps the file");
        assertEquals(TAIL, Files.size(file));
        assertArrayEquals(hex("6c 69 62 76 69 72 74 2d 78 6d 6c 0a 20 00 20 0d 02000000 00000400"
                + "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000"),
                fileBytes(0, 64));
        assertArrayEquals(hex("4c6962786c466d74 00000002 00000000" + "01000000 00000000" // libxl header, LIBXC_CONTEXT
                + "ffffffffffffffff 58454e46 00000003 0000 0000 00000000"), fileBytes(262_208, 48));
        // the first region: padding record of 4072 bytes, then PAGE_DATA of 1024 pages (8 + 8192 + 4 MiB = 0x402008)
        assertArrayEquals(hex("4d4f5280 e80f0000"), fileBytes(327_680, 8));
        assertArrayEquals(hex("01000000 08204000 00040000 00000000"), fileBytes(327_680 + 4080, 16));
    }

    @Test
    void pagesLandAtTheirOffsets() throws IOException {
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            ByteBuffer src = pages(1, 2, 3, 4, 5, 6, 7, 8);
            // a run across the end of region 0, a run inside region 1, and slots out of order
            image.writePages(new long[] {1022, 1023, 1024, 1025, 2499, 7, 3, 4}, 0, 8, src);
            assertEquals(8 * 4096, src.position());
            assertArrayEquals(pages(1).array(), fileBytes(339_968 + 1022 * 4096, 4096));
            assertArrayEquals(pages(2).array(), fileBytes(339_968 + 1023 * 4096, 4096));
            assertArrayEquals(pages(3).array(), fileBytes(4_546_560, 4096));
            assertArrayEquals(pages(4).array(), fileBytes(4_546_560 + 4096, 4096));
            assertArrayEquals(pages(5).array(), fileBytes(10_600_448, 4096));
            assertArrayEquals(pages(6).array(), fileBytes(339_968 + 7 * 4096, 4096));
            assertArrayEquals(pages(7, 8).array(), fileBytes(339_968 + 3 * 4096, 2 * 4096));
            // the region header between them is untouched
            assertArrayEquals(hex("01000000 08204000 00040000 00000000"),
                    fileBytes(ImageLayout.pageDataOffset(SLOTS, 1), 16));

            ByteBuffer direct = ByteBuffer.allocateDirect(3 * 4096);
            direct.position(4096);
            image.readPage(1024, direct);
            assertEquals(2 * 4096, direct.position());
            assertEquals(3, direct.get(4096));
            assertEquals(3, direct.get(2 * 4096 - 1));
            assertEquals(0, direct.get(0));

            ByteBuffer untouched = ByteBuffer.allocate(4096);
            untouched.put(0, (byte) 9);
            image.readPage(100, untouched);
            assertArrayEquals(new byte[4096], untouched.array(), "a page never written reads as zeros");
            assertEquals(TAIL, Files.size(file), "pages do not move the end");
        }
    }

    @Test
    void slotsOutsideTheImageAreRefusedBeforeAnythingIsWritten() throws IOException {
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> image.writePages(new long[] {5, 2500}, 0, 2, pages(0x55, 0x56)));
            assertTrue(e.getMessage().contains("slot 2500 is outside the replica's 0..2499"), e.getMessage());
            assertArrayEquals(new byte[4096], fileBytes(ImageLayout.pageOffset(5), 4096));
            assertThrows(IllegalArgumentException.class, () -> image.writePages(new long[] {-1}, 0, 1, pages(1)));
            assertThrows(IllegalArgumentException.class, () -> image.readPage(SLOTS, ByteBuffer.allocate(4096)));
            assertThrows(IllegalArgumentException.class, () -> image.writePages(new long[] {1, 2}, 0, 2, pages(1)),
                    "fewer pages than slots");
            assertThrows(IndexOutOfBoundsException.class, () -> image.writePages(new long[] {1}, 1, 1, pages(1)));
            assertThrows(IllegalArgumentException.class, () -> image.readPage(0, ByteBuffer.allocate(100)));
        }
        assertThrows(IllegalArgumentException.class, () -> ReplicaImage.create(file, 0));
    }

    @Test
    void applyMakesACompleteImageInRecordOrder() throws IOException {
        XenDeviceState state = States.full(RANGES);
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            image.writePages(new long[] {0, 2048}, 0, 2, pages(0x11, 0x22));
            image.apply(state);
            assertTrue(image.applied());
        }
        assertEquals(TAIL + FULL_TAIL, Files.size(file));
        List<Rec> records = ImageWalk.walk(file);
        assertEquals(List.of(1, 2, 3, 0), ImageWalk.types(records, "libxl"));
        assertEquals(List.of(0x11, 0x12, PAD, 0x10, PAD, 1, PAD, 1, PAD, 1, 8, 0xa, 9, 0),
                ImageWalk.types(records, "libxc"));

        List<Rec> libxc = records.stream().filter(r -> r.layer().equals("libxc")).toList();
        assertEquals(ImageLayout.STATIC_OFFSET, libxc.get(0).offset());
        assertEquals(72, libxc.get(0).length(), "CPUID policy of 3 leaves");
        assertEquals(ImageLayout.FIRST_REGION_OFFSET - 8, libxc.get(3).offset(), "STATIC_DATA_END ends the region");
        for (int r = 0; r < 3; r++) {
            Rec pageData = libxc.get(5 + 2 * r);
            int count = ImageLayout.regionPages(SLOTS, r);
            assertEquals(ImageLayout.pageDataOffset(SLOTS, r), pageData.offset());
            assertEquals(8 + count * (8 + 4096), pageData.length());
            assertEquals(ImageLayout.pageOffset(r * 1024L), pageData.offset() + 16 + 8L * count,
                    "the pages of region " + r + " follow its pfns");
        }
        assertEquals(TAIL, libxc.get(10).offset(), "X86_TSC_INFO starts the tail");

        for (long slot = 0; slot < SLOTS; slot++) {
            assertEquals(state.gpfn(slot), pfnAt(slot), "pfn of slot " + slot);
        }
        assertEquals(0x10000, pfnAt(2048));
        assertArrayEquals(pages(0x22).array(), fileBytes(ImageLayout.pageOffset(2048), 4096));
        byte[] xml = (state.domainXml() + "\0").getBytes(StandardCharsets.UTF_8);
        assertArrayEquals(xml, fileBytes(64, xml.length));
        // PVH or HVM, the domain header says HVM, as libxc saves PVH domains
        assertArrayEquals(hex("02000000 0c00 0000 04000000 13000000"), fileBytes(ImageLayout.DOMAIN_HEADER_OFFSET,
                16));
    }

    @Test
    void laterAppliesGrowAndShrinkTheTail() throws IOException {
        XenDeviceState first = States.full(RANGES);
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            image.apply(first);
            assertEquals(TAIL + FULL_TAIL, Files.size(file));

            image.apply(States.state(first.domainXml(), RANGES, first.cpuidPolicy(), first.msrPolicy(),
                    States.bytes(100_000, 5), first.emulatorXenstore(), first.emulatorContext()));
            assertEquals(TAIL + FULL_TAIL - 1248 + 100_008, Files.size(file));
            assertEquals(List.of(1, 2, 3, 0), ImageWalk.types(ImageWalk.walk(file), "libxl"));

            // no device model: the emulator records go, the context shrinks to 8 bytes
            image.apply(States.state(first.domainXml(), RANGES, first.cpuidPolicy(), first.msrPolicy(),
                    States.bytes(8, 6), null, null));
            assertEquals(TAIL + 32 + 48 + 16 + 8 + 8, Files.size(file));
            List<Rec> records = ImageWalk.walk(file);
            assertEquals(List.of(1, 0), ImageWalk.types(records, "libxl"));
            Rec context = records.stream().filter(r -> r.layer().equals("libxc") && r.type() == 9).findFirst()
                    .orElseThrow();
            assertArrayEquals(States.bytes(8, 6), fileBytes(context.offset() + 8, 8));
        }
    }

    @Test
    void aReopenedImageKeepsItsPagesAndItsFirstApplyRewritesEveryOtherPart() throws IOException {
        XenDeviceState state = States.full(RANGES);
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            image.writePages(new long[] {7}, 0, 1, pages(7));
            image.apply(States.state(state.domainXml(), RANGES, state.cpuidPolicy(), state.msrPolicy(),
                    States.bytes(100_000, 5), state.emulatorXenstore(), state.emulatorContext()));
        }
        long longer = Files.size(file);
        poke(ImageLayout.pfnArrayOffset(SLOTS, 0), 0xdead);
        try (ReplicaImage image = ReplicaImage.open(file, SLOTS)) {
            ByteBuffer page = ByteBuffer.allocate(4096);
            image.readPage(7, page);
            assertArrayEquals(pages(7).array(), page.array());
            image.apply(state);
            assertTrue(image.applied());
        }
        assertEquals(0, pfnAt(0), "nothing is known of a reopened file: every pfn array is written");
        assertEquals(TAIL + FULL_TAIL, Files.size(file), "the shorter tail ends the file: " + longer + " before");
        assertEquals(List.of(1, 2, 3, 0), ImageWalk.types(ImageWalk.walk(file), "libxl"));

        IOException e = assertThrows(IOException.class, () -> ReplicaImage.open(file, SLOTS * 2));
        assertTrue(e.getMessage().contains("is not a replica image of 5000 pages"), e.getMessage());
        Files.write(file, new byte[64]);
        assertThrows(IOException.class, () -> ReplicaImage.open(file, SLOTS));
    }

    @Test
    void pfnsAreRewrittenOnlyWhereTheRangesChanged() throws IOException {
        long[] moved = {0, 2048, 0x20000, 452}; // only the last region's pfns differ
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            image.apply(States.full(RANGES));
            // a probe: a pfn changed behind the image's back stays changed while the image has no reason to write it
            poke(ImageLayout.pfnArrayOffset(SLOTS, 0), 0xdead);
            image.apply(States.full(RANGES.clone()));
            assertEquals(0xdead, pfnAt(0), "same ranges: no pfn array rewritten");

            image.apply(States.full(moved));
            assertEquals(0xdead, pfnAt(0), "region 0 did not change: not rewritten");
            assertEquals(2047, pfnAt(2047));
            assertEquals(0x20000, pfnAt(2048), "region 2 changed: rewritten");
            assertEquals(0x20000 + 451, pfnAt(2499));
        }
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            image.apply(States.full(moved));
            assertEquals(0, pfnAt(0), "a new image writes every pfn array");
        }
    }

    @Test
    void xmlMustFitItsReservedPlace() throws IOException {
        String fits = "x".repeat(262_143);
        String tooLarge = "x".repeat(262_144);
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            image.apply(withXml(fits));
            byte[] before = fileBytes(0, (int) ImageLayout.FIRST_REGION_OFFSET);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> image.apply(withXml(tooLarge)));
            assertTrue(e.getMessage().contains("262145 bytes with its NUL, the image reserves 262144"),
                    e.getMessage());
            assertArrayEquals(before, fileBytes(0, (int) ImageLayout.FIRST_REGION_OFFSET), "nothing written");

            image.apply(withXml("<domain/>"));
            byte[] region = fileBytes(64, 262_144);
            assertArrayEquals("<domain/>\0".getBytes(StandardCharsets.US_ASCII), Arrays.copyOf(region, 10));
            assertArrayEquals(new byte[262_144 - 10], Arrays.copyOfRange(region, 10, 262_144),
                    "the longer XML before is overwritten with NULs");
        }
        ImageWalk.walk(file);
    }

    private static XenDeviceState withXml(String xml) {
        XenDeviceState s = States.full(RANGES);
        return States.state(xml, RANGES, s.cpuidPolicy(), s.msrPolicy(), s.hvmContext(), s.emulatorXenstore(),
                s.emulatorContext());
    }

    @Test
    void policiesMustFitTheStaticRegionAndMayBeAbsent() throws IOException {
        XenDeviceState s = States.full(RANGES);
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> image.apply(
                    States.state(s.domainXml(), RANGES, new byte[70_000], s.msrPolicy(), s.hvmContext(), null, null)));
            assertTrue(e.getMessage().contains("static region has 65408"), e.getMessage());

            image.apply(States.state(s.domainXml(), RANGES, new byte[0], new byte[0], s.hvmContext(), null, null));
        }
        assertEquals(List.of(PAD, 0x10, PAD, 1, PAD, 1, PAD, 1, 8, 0xa, 9, 0),
                ImageWalk.types(ImageWalk.walk(file), "libxc"));
    }

    @Test
    void stateOfAnotherSizeIsRefused() throws IOException {
        try (ReplicaImage image = ReplicaImage.create(file, SLOTS)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> image.apply(States.full(new long[] {0, 16})));
            assertTrue(e.getMessage().contains("16 populated guest pages"), e.getMessage());
            assertTrue(e.getMessage().contains("2500 slots"), e.getMessage());
            assertFalse(image.applied());
        }
    }

    @Test
    void aLargeImageIsCreatedQuicklyAndSparse() throws IOException {
        long slots = 262_144; // 1 GiB of guest memory, 256 regions
        long start = System.nanoTime();
        try (ReplicaImage image = ReplicaImage.create(file, slots)) {
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(millis < 5_000, "creating a 1 GiB image took " + millis + " ms");
            assertEquals(327_680L + 256 * 4_206_592L, Files.size(file));
            image.apply(States.full(new long[] {0, 0x30000, 0x100000, 0x10000}));
        }
        assertEquals(327_680L + 256 * 4_206_592L + FULL_TAIL, Files.size(file));
        assertEquals(256 + 256 + 4 + 4, ImageWalk.walk(file).stream().filter(r -> r.layer().equals("libxc"))
                .count(), "static (4), padding and PAGE_DATA per region, tail (4)");
    }

    @Test
    void createReplacesAnOlderFile() throws IOException {
        Files.write(file, new byte[20_000_000]);
        try (ReplicaImage image = ReplicaImage.create(file, 1)) {
            assertEquals(ImageLayout.pageOffset(0) + 4096, Files.size(file));
            image.apply(States.full(new long[] {0x42, 1}));
        }
        assertEquals(0x42, ByteBuffer.wrap(fileBytes(ImageLayout.pfnArrayOffset(1, 0), 8))
                .order(ByteOrder.LITTLE_ENDIAN).getLong());
        ImageWalk.walk(file);
    }
}
