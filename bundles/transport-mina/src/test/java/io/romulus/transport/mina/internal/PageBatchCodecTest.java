package io.romulus.transport.mina.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.CRC32C;

import org.junit.jupiter.api.Test;

import io.romulus.api.transport.PageEncoding;

class PageBatchCodecTest {

    private static final int PAGE = 4096;
    private final Random random = new Random(42);
    private final PageBatchCodec.Encoder encoder = new PageBatchCodec.Encoder(PAGE, new DeltaCache(1 << 20, PAGE));
    private final PageBatchCodec.Decoder decoder = new PageBatchCodec.Decoder(PAGE, new DeltaCache(1 << 20, PAGE));

    private byte[] randomPage() {
        byte[] p = new byte[PAGE];
        random.nextBytes(p);
        return p;
    }

    private static byte[] textPage(int seed) {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < PAGE) {
            sb.append("GET /index.html HTTP/1.1 host=example.org request ").append(seed++).append('\n');
        }
        return Arrays.copyOf(sb.toString().getBytes(StandardCharsets.US_ASCII), PAGE);
    }

    private PageBatchCodec.Encoded roundTrip(long[] pfns, byte[]... pages) throws Exception {
        ByteBuffer buf = ByteBuffer.allocate(pages.length * PAGE);
        for (byte[] p : pages) {
            buf.put(p);
        }
        buf.flip();
        CRC32C sent = new CRC32C();
        PageBatchCodec.Encoded enc = encoder.encode(pfns, 0, pfns.length, buf, sent);
        CRC32C received = new CRC32C();
        PageBatchCodec.Decoded dec = decoder.decode(enc.body(), received);
        assertArrayEquals(pfns, dec.pfns());
        for (int i = 0; i < pages.length; i++) {
            byte[] got = new byte[PAGE];
            dec.pages().duplicate().position(i * PAGE).get(got);
            assertArrayEquals(pages[i], got, "page " + pfns[i]);
        }
        assertEquals(sent.getValue(), received.getValue(), "checksum over decoded data");
        return enc;
    }

    /** The word-wise XOR against a byte at a time: lengths that are not a multiple of 8, offsets, in place. */
    @Test
    void xorMatchesAByteAtATimeForAnyLengthAndOffset() {
        Random random = new Random(19);
        for (int length : new int[] {0, 1, 7, 8, 9, 63, 4096, 4099}) {
            byte[] a = new byte[length + 13];
            byte[] b = new byte[length];
            random.nextBytes(a);
            random.nextBytes(b);
            byte[] expected = a.clone();
            for (int j = 0; j < length; j++) {
                expected[5 + j] = (byte) (a[5 + j] ^ b[j]);
            }
            byte[] out = new byte[length + 13];
            System.arraycopy(a, 0, out, 0, 5);
            System.arraycopy(a, 5 + length, out, 5 + length, 8);
            PageBatchCodec.xor(a, 5, b, out, 5, length);
            assertArrayEquals(expected, out, "into another array, length " + length);
            PageBatchCodec.xor(a, 5, b, a, 5, length);
            assertArrayEquals(expected, a, "in place, length " + length);
        }
    }

    @Test
    void aBatchOfZeroPagesCannotMakeTheReceiverAllocateMoreThanARecordHolds() {
        // 256 ZERO pages take 3332 bytes on the wire; of 2 MiB each they would decode to 512 MiB
        int huge = 1 << 21;
        ByteBuffer body = ByteBuffer.allocate(4 + 256 * PageBatchCodec.PAGE_HEADER_BYTES).putInt(256);
        for (int i = 0; i < 256; i++) {
            body.putLong(i).put((byte) PageEncoding.ZERO.code()).putInt(0);
        }
        PageBatchCodec.Decoder dec = new PageBatchCodec.Decoder(huge, new DeltaCache(0, huge),
                RecordCodec.DEFAULT_MAX_RECORD_BYTES);
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> dec.decode(body.array(), new CRC32C()));
        assertTrue(e.getMessage().contains("at most 8"), e.getMessage());
        // what a sender puts into one record still decodes
        int pages = PageBatchCodec.pagesPerBatch(huge, RecordCodec.DEFAULT_MAX_RECORD_BYTES);
        ByteBuffer fits = ByteBuffer.allocate(4 + pages * PageBatchCodec.PAGE_HEADER_BYTES).putInt(pages);
        for (int i = 0; i < pages; i++) {
            fits.putLong(i).put((byte) PageEncoding.ZERO.code()).putInt(0);
        }
        assertDoesNotThrow(() -> dec.decode(fits.array(), new CRC32C()));
    }

    @Test
    void eachPageGetsTheCheapEncodingAndRoundTrips() throws Exception {
        byte[] zero = new byte[PAGE];
        byte[] rnd = randomPage();
        byte[] text = textPage(0);
        PageBatchCodec.Encoded first = roundTrip(new long[] {1, 2, 3}, zero, rnd, text);
        assertEquals(1, first.count(PageEncoding.ZERO));
        assertEquals(1, first.count(PageEncoding.RAW));
        assertEquals(1, first.count(PageEncoding.LZ4));

        byte[] rndChanged = rnd.clone();
        rndChanged[100] ^= 0x55;
        rndChanged[2000] = 7;
        rndChanged[4095] ^= 1;
        PageBatchCodec.Encoded second = roundTrip(new long[] {2, 1}, rndChanged, zero);
        assertEquals(1, second.count(PageEncoding.XOR_DELTA));
        assertEquals(1, second.count(PageEncoding.ZERO));
        assertTrue(second.body().length < 200, "a 3-byte change costs " + second.body().length + " bytes");
    }

    @Test
    void deltaAgainstAZeroPageAndAfterCacheEvictionStaysInSync() throws Exception {
        // a cache of 2 slots: pfns 0 and 2 share a slot
        PageBatchCodec.Encoder enc = new PageBatchCodec.Encoder(PAGE, new DeltaCache(2 * PAGE, PAGE));
        PageBatchCodec.Decoder dec = new PageBatchCodec.Decoder(PAGE, new DeltaCache(2 * PAGE, PAGE));
        for (int round = 0; round < 20; round++) {
            long[] pfns = {0, 1, 2, 3, round % 4};
            ByteBuffer buf = ByteBuffer.allocate(pfns.length * PAGE);
            for (int i = 0; i < pfns.length; i++) {
                byte[] p = round % 3 == 0 ? randomPage() : textPage(round * 7 + i);
                p[round] ^= 3;
                buf.put(p);
            }
            buf.flip();
            CRC32C a = new CRC32C();
            CRC32C b = new CRC32C();
            PageBatchCodec.Decoded d = dec.decode(enc.encode(pfns, 0, pfns.length, buf, a).body(), b);
            assertEquals(buf, d.pages());
            assertEquals(a.getValue(), b.getValue());
        }
    }

    @Test
    void unknownPageEncodingIsRefused() {
        ByteBuffer body = ByteBuffer.allocate(4 + 13).putInt(1).putLong(5).put((byte) 9).putInt(0);
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> decoder.decode(body.array(), new CRC32C()));
        assertTrue(e.getMessage().contains("unknown page encoding 9"), e.getMessage());
    }

    @Test
    void pageCountInconsistentWithLengthIsRefused() throws Exception {
        ByteBuffer pages = ByteBuffer.wrap(randomPage());
        byte[] body = encoder.encode(new long[] {7}, 0, 1, pages, new CRC32C()).body();
        ByteBuffer.wrap(body).putInt(2);
        assertThrows(MalformedRecordException.class, () -> decoder.decode(body, new CRC32C()));
        byte[] extra = Arrays.copyOf(body, body.length + 3);
        ByteBuffer.wrap(extra).putInt(1);
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> decoder.decode(extra, new CRC32C()));
        assertTrue(e.getMessage().contains("after its last page"), e.getMessage());
        byte[] huge = ByteBuffer.allocate(4).putInt(100_000).array();
        assertThrows(MalformedRecordException.class, () -> decoder.decode(huge, new CRC32C()));
    }

    @Test
    void rawPageOfWrongSizeAndBadLz4AreRefused() {
        ByteBuffer raw = ByteBuffer.allocate(4 + 13 + 10).putInt(1).putLong(5).put((byte) 0).putInt(10);
        assertThrows(MalformedRecordException.class, () -> decoder.decode(raw.array(), new CRC32C()));
        ByteBuffer lz4 = ByteBuffer.allocate(4 + 13 + 10).putInt(1).putLong(5).put((byte) 3).putInt(10)
                .put(new byte[] {(byte) 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9});
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> decoder.decode(lz4.array(), new CRC32C()));
        assertTrue(e.getMessage().contains("LZ4 data of page 5"), e.getMessage());
    }

    @Test
    void deltaForAPageNeverSentIsRefused() {
        ByteBuffer body = ByteBuffer.allocate(4 + 13 + 1).putInt(1).putLong(77).put((byte) 2).putInt(1).put((byte) 0);
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> decoder.decode(body.array(), new CRC32C()));
        assertTrue(e.getMessage().contains("not in this connection's delta cache"), e.getMessage());
    }
}
