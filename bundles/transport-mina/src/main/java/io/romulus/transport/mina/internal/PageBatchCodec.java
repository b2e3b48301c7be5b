package io.romulus.transport.mina.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.zip.CRC32C;

import io.romulus.api.transport.PageEncoding;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * Body of a {@code PAGE_BATCH} record, independent of MINA: {@code count:u32}, then per page
 * {@code pfn:u64, encoding:u8, length:u32, data[length]}. {@code ZERO} carries no data, {@code RAW} exactly one page,
 * {@code LZ4} the LZ4 block of the page, {@code XOR_DELTA} the LZ4 block of the page XOR the version of the same pfn
 * last sent on the connection (see {@link DeltaCache}).
 *
 * <p>An encoder and a decoder each belong to one end of one connection and are not thread-safe.
 */
public final class PageBatchCodec {

    /** Most pages in one record. */
    public static final int MAX_PAGES_PER_BATCH = 256;
    static final int PAGE_HEADER_BYTES = 8 + 1 + 4;

    /**
     * LZ4 from the at.yawk.lz4 fork: {@code fastestInstance()} there is native or the (fixed) Unsafe Java
     * implementation, and only the bounds-checked {@code safeDecompressor()} is used on input from the network.
     */
    private static final LZ4Factory LZ4 = LZ4Factory.fastestInstance();
    /** Longs in a byte array, any alignment (plain get and set only), for {@link #xor}. */
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private PageBatchCodec() {
    }

    /** How many pages of {@code pageSize} fit into one record of at most {@code maxRecordBytes}. */
    public static int pagesPerBatch(int pageSize, int maxRecordBytes) {
        int worst = PAGE_HEADER_BYTES + LZ4.fastCompressor().maxCompressedLength(pageSize);
        int fit = (maxRecordBytes - 4) / Math.max(worst, PAGE_HEADER_BYTES + pageSize);
        return Math.max(1, Math.min(MAX_PAGES_PER_BATCH, fit));
    }

    /**
     * {@code out[outOff..+length) = a[aOff..+length) ^ b[0..length)}, eight bytes at a time. A loop a byte at a time
     * was 80% of the stream's CPU on both ends (JFR, bench-qemu's guest writing flat out): C2 does not vectorize it
     * here, and it costs 1.37 µs a page against 0.19 µs for this (JDK 17, this machine). {@code out} may be {@code a}.
     */
    static void xor(byte[] a, int aOff, byte[] b, byte[] out, int outOff, int length) {
        int j = 0;
        for (; j + Long.BYTES <= length; j += Long.BYTES) {
            LONGS.set(out, outOff + j, (long) LONGS.get(a, aOff + j) ^ (long) LONGS.get(b, j));
        }
        for (; j < length; j++) {
            out[outOff + j] = (byte) (a[aOff + j] ^ b[j]);
        }
    }

    /** Adds one decoded page to an epoch checksum: its pfn (8 bytes, big-endian), then its data. */
    public static void checksumPage(CRC32C checksum, long pfn, ByteBuffer page, int pageSize) {
        checksum.update(pfnBytes(pfn));
        ByteBuffer data = page.duplicate();
        data.limit(data.position() + pageSize);
        checksum.update(data);
    }

    private static byte[] pfnBytes(long pfn) {
        return ByteBuffer.allocate(8).putLong(pfn).array();
    }

    /** One encoded batch. */
    public record Encoded(byte[] body, int pageCount, long rawBytes, int[] encodingCounts) {

        public int count(PageEncoding encoding) {
            return encodingCounts[encoding.code()];
        }
    }

    /** One decoded batch: {@code pfns.length} pages, back to back in {@code pages}. */
    public record Decoded(long[] pfns, ByteBuffer pages) {
    }

    /** The sending end. */
    public static final class Encoder {

        private final int pageSize;
        private final DeltaCache cache;
        private final LZ4Compressor compressor = LZ4.fastCompressor();
        private final byte[] zero;
        private final byte[] page;
        private final byte[] xor;
        private final byte[] compressed;
        private final int worthIt;

        public Encoder(int pageSize, DeltaCache cache) {
            this.pageSize = pageSize;
            this.cache = cache;
            this.zero = new byte[pageSize];
            this.page = new byte[pageSize];
            this.xor = new byte[pageSize];
            this.compressed = new byte[compressor.maxCompressedLength(pageSize)];
            this.worthIt = pageSize - pageSize / 8;
        }

        /**
         * Encodes pages {@code pfns[from..from+count)}, page {@code i} at {@code pages.position() + i * pageSize},
         * and adds them to {@code checksum}. Does not move {@code pages}' position.
         */
        public Encoded encode(long[] pfns, int from, int count, ByteBuffer pages, CRC32C checksum) {
            if (count < 0 || count > MAX_PAGES_PER_BATCH) {
                throw new IllegalArgumentException("a batch holds 0.." + MAX_PAGES_PER_BATCH + " pages, not " + count);
            }
            ByteBuffer out = ByteBuffer.allocate(4 + count * (PAGE_HEADER_BYTES + compressed.length));
            out.putInt(count);
            int[] counts = new int[PageEncoding.values().length];
            ByteBuffer src = pages.duplicate();
            int base = src.position();
            for (int i = 0; i < count; i++) {
                long pfn = pfns[from + i];
                src.position(base + i * pageSize);
                src.get(page, 0, pageSize);
                checksum.update(pfnBytes(pfn));
                checksum.update(page, 0, pageSize);
                out.putLong(pfn);
                PageEncoding encoding = encodePage(pfn, out);
                counts[encoding.code()]++;
            }
            return new Encoded(Arrays.copyOf(out.array(), out.position()), count, (long) count * pageSize, counts);
        }

        private PageEncoding encodePage(long pfn, ByteBuffer out) {
            if (Arrays.mismatch(page, zero) < 0) {
                cache.putZero(pfn);
                out.put((byte) PageEncoding.ZERO.code()).putInt(0);
                return PageEncoding.ZERO;
            }
            byte[] previous = cache.get(pfn);
            PageEncoding encoding = PageEncoding.RAW;
            int length = pageSize;
            if (previous != null) {
                xor(page, 0, previous, xor, 0, pageSize);
                int n = compressor.compress(xor, 0, pageSize, compressed, 0, compressed.length);
                if (n < worthIt) {
                    encoding = PageEncoding.XOR_DELTA;
                    length = n;
                }
            }
            if (encoding == PageEncoding.RAW) {
                int n = compressor.compress(page, 0, pageSize, compressed, 0, compressed.length);
                if (n < worthIt) {
                    encoding = PageEncoding.LZ4;
                    length = n;
                }
            }
            out.put((byte) encoding.code()).putInt(length);
            out.put(encoding == PageEncoding.RAW ? page : compressed, 0, length);
            cache.put(pfn, ByteBuffer.wrap(page));
            return encoding;
        }
    }

    /** The receiving end. */
    public static final class Decoder {

        private final int pageSize;
        private final DeltaCache cache;
        private final int maxPages;
        private final LZ4SafeDecompressor decompressor = LZ4.safeDecompressor();

        /** A decoder of batches of at most {@link RecordCodec#DEFAULT_MAX_RECORD_BYTES} of pages. */
        public Decoder(int pageSize, DeltaCache cache) {
            this(pageSize, cache, RecordCodec.DEFAULT_MAX_RECORD_BYTES);
        }

        /**
         * @param maxDecodedBytes most bytes of pages one batch may decode to, the receiver's max.record.bytes: a
         *                        sender puts at most {@link #pagesPerBatch} pages in a record, and those never hold
         *                        more (without this bound, 256 ZERO pages of 2 MiB, 3 KiB on the wire, would make the
         *                        receiver allocate 512 MiB)
         */
        public Decoder(int pageSize, DeltaCache cache, int maxDecodedBytes) {
            this.pageSize = pageSize;
            this.cache = cache;
            this.maxPages = Math.max(1, Math.min(MAX_PAGES_PER_BATCH, maxDecodedBytes / pageSize));
        }

        /**
         * Decodes a batch body and adds its pages to {@code checksum}.
         *
         * @throws MalformedRecordException if the body is inconsistent: counts and lengths that do not add up, an
         *                                  unknown encoding, LZ4 data that does not decode to exactly one page, a
         *                                  delta against a page this connection never sent
         */
        public Decoded decode(byte[] body, CRC32C checksum) throws MalformedRecordException {
            ByteBuffer in = ByteBuffer.wrap(body).order(ByteOrder.BIG_ENDIAN);
            if (in.remaining() < 4) {
                throw new MalformedRecordException("PAGE_BATCH body of " + body.length + " bytes has no page count");
            }
            long count = Integer.toUnsignedLong(in.getInt());
            if (count > maxPages) {
                throw new MalformedRecordException("PAGE_BATCH says " + count + " pages of " + pageSize
                        + " bytes; a batch holds at most " + maxPages);
            }
            if (count * PAGE_HEADER_BYTES > in.remaining()) {
                throw new MalformedRecordException("PAGE_BATCH says " + count + " pages but its body has only "
                        + body.length + " bytes");
            }
            int n = (int) count;
            long[] pfns = new long[n];
            byte[] pages = new byte[n * pageSize];
            for (int i = 0; i < n; i++) {
                if (in.remaining() < PAGE_HEADER_BYTES) {
                    throw new MalformedRecordException("PAGE_BATCH says " + n + " pages but ends after " + i);
                }
                long pfn = in.getLong();
                int code = Byte.toUnsignedInt(in.get());
                long length = Integer.toUnsignedLong(in.getInt());
                PageEncoding encoding = PageEncoding.of(code);
                if (encoding == null) {
                    throw new MalformedRecordException("unknown page encoding " + code + " for pfn " + pfn);
                }
                if (pfn < 0) {
                    throw new MalformedRecordException("negative pfn " + pfn);
                }
                if (length > in.remaining()) {
                    throw new MalformedRecordException("page " + pfn + " claims " + length
                            + " bytes of data but the PAGE_BATCH has " + in.remaining() + " left");
                }
                int off = i * pageSize;
                int len = (int) length;
                switch (encoding) {
                    case ZERO -> {
                        if (len != 0) {
                            throw new MalformedRecordException("ZERO page " + pfn + " carries " + len + " bytes");
                        }
                    }
                    case RAW -> {
                        if (len != pageSize) {
                            throw new MalformedRecordException("RAW page " + pfn + " has " + len
                                    + " bytes, page size is " + pageSize);
                        }
                        in.get(pages, off, pageSize);
                    }
                    case LZ4 -> decompress(pfn, in, len, pages, off);
                    case XOR_DELTA -> {
                        byte[] previous = cache.get(pfn);
                        if (previous == null) {
                            throw new MalformedRecordException("XOR_DELTA for page " + pfn
                                    + " which is not in this connection's delta cache");
                        }
                        decompress(pfn, in, len, pages, off);
                        xor(pages, off, previous, pages, off, pageSize);
                    }
                    default -> throw new IllegalStateException(encoding.name());
                }
                pfns[i] = pfn;
                ByteBuffer decoded = ByteBuffer.wrap(pages, off, pageSize);
                cache.put(pfn, decoded);
                checksumPage(checksum, pfn, decoded, pageSize);
            }
            if (in.hasRemaining()) {
                throw new MalformedRecordException("PAGE_BATCH of " + n + " pages has " + in.remaining()
                        + " bytes after its last page");
            }
            return new Decoded(pfns, ByteBuffer.wrap(pages));
        }

        private void decompress(long pfn, ByteBuffer in, int len, byte[] pages, int off)
                throws MalformedRecordException {
            int n;
            try {
                n = decompressor.decompress(in.array(), in.arrayOffset() + in.position(), len, pages, off, pageSize);
            } catch (LZ4Exception e) {
                throw new MalformedRecordException("LZ4 data of page " + pfn + " does not decode: " + e.getMessage(),
                        e);
            }
            if (n != pageSize) {
                throw new MalformedRecordException("LZ4 data of page " + pfn + " decodes to " + n
                        + " bytes, page size is " + pageSize);
            }
            in.position(in.position() + len);
        }
    }
}
