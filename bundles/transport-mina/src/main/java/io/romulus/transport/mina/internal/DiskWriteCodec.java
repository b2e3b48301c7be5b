package io.romulus.transport.mina.internal;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.PageEncoding;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * Body of a {@code DISK_WRITES} record, independent of MINA: {@code disk:u32, count:u32}, then per write
 * {@code offset:u64, length:u32, encoding:u8, stored:u32, data[stored]}, big-endian. {@code length} is the number of
 * bytes written to the disk at {@code offset}; the encoding is one of the page encodings: {@code RAW} (the bytes,
 * {@code stored == length}), {@code ZERO} (all zero, nothing stored) or {@code LZ4} (the LZ4 block of the bytes);
 * {@code XOR_DELTA} is not used for disks.
 *
 * <p>A write longer than {@link #MAX_WRITE_BYTES} travels as several writes of consecutive ranges, and the writes of
 * one call are spread over as many records as {@code max.record.bytes} and {@link #MAX_DECODED_BYTES} require; the
 * epoch's disk write count counts the writes as they travel. Each write adds its disk index (4 bytes), offset (8),
 * length (4) and decoded data to the epoch checksum.
 */
public final class DiskWriteCodec {

    /** Longest write in a record; longer ones are split. */
    public static final int MAX_WRITE_BYTES = 1 << 20;
    /** Most bytes one record may decode to (a bound on what a record of ZERO writes can make a backup allocate). */
    public static final int MAX_DECODED_BYTES = 16 << 20;
    static final int RECORD_HEADER_BYTES = 4 + 4;
    static final int WRITE_HEADER_BYTES = 8 + 4 + 1 + 4;

    private static final LZ4Factory LZ4 = LZ4Factory.fastestInstance();

    private DiskWriteCodec() {
    }

    /** Adds one decoded write to an epoch checksum. */
    static void checksumWrite(CRC32C checksum, int disk, long offset, byte[] data, int from, int length) {
        checksum.update(ByteBuffer.allocate(16).putInt(disk).putLong(offset).putInt(length).flip());
        checksum.update(data, from, length);
    }

    /** Where the encoder puts each finished record body. */
    @FunctionalInterface
    public interface BodySink {
        /**
         * Takes one finished body.
         *
         * @param writes   writes in the body
         * @param rawBytes bytes those writes put on the disk
         */
        void body(byte[] body, int writes, long rawBytes) throws CheckpointException, InterruptedException;
    }

    /** One decoded record. */
    public record Decoded(int disk, List<DiskWrite> writes) {
    }

    /** The sending end; not thread-safe. */
    public static final class Encoder {

        private final int maxRecordBytes;
        private final int maxWrite;
        private final LZ4Compressor compressor = LZ4.fastCompressor();
        private final byte[] compressed;
        private final byte[] zero;

        public Encoder(int maxRecordBytes) {
            this.maxRecordBytes = maxRecordBytes;
            this.maxWrite = Math.min(MAX_WRITE_BYTES, maxRecordBytes - RECORD_HEADER_BYTES - WRITE_HEADER_BYTES);
            if (maxWrite < 1) {
                throw new IllegalArgumentException("max.record.bytes=" + maxRecordBytes + " holds no disk write");
            }
            this.compressed = new byte[compressor.maxCompressedLength(maxWrite)];
            this.zero = new byte[maxWrite];
        }

        /**
         * Encodes the writes to disk {@code disk} into as many record bodies as they need, handing each to
         * {@code out} as soon as it is full (so memory stays bounded by one record), and adds them to
         * {@code checksum}. Empty writes are left out.
         */
        public void encode(int disk, List<DiskWrite> writes, CRC32C checksum, BodySink out)
                throws CheckpointException, InterruptedException {
            if (disk < 0) {
                throw new IllegalArgumentException("disk index " + disk);
            }
            Body body = new Body(disk);
            for (DiskWrite w : writes) {
                if (w.offset() < 0) {
                    throw new IllegalArgumentException("disk write at negative offset " + w.offset());
                }
                byte[] data = w.data();
                for (int done = 0; done < data.length; ) {
                    int n = Math.min(maxWrite, data.length - done);
                    long offset = w.offset() + done;
                    PageEncoding encoding;
                    int stored;
                    if (Arrays.mismatch(data, done, done + n, zero, 0, n) < 0) {
                        encoding = PageEncoding.ZERO;
                        stored = 0;
                    } else {
                        int c = compressor.compress(data, done, n, compressed, 0, compressed.length);
                        if (c < n - n / 8) {
                            encoding = PageEncoding.LZ4;
                            stored = c;
                        } else {
                            encoding = PageEncoding.RAW;
                            stored = n;
                        }
                    }
                    if (body.count > 0 && (body.out.size() + WRITE_HEADER_BYTES + stored > maxRecordBytes
                            || body.raw + n > MAX_DECODED_BYTES)) {
                        body.flush(out);
                        body = new Body(disk);
                    }
                    body.add(offset, n, encoding, stored, encoding == PageEncoding.LZ4 ? compressed : data,
                            encoding == PageEncoding.LZ4 ? 0 : done);
                    checksumWrite(checksum, disk, offset, data, done, n);
                    done += n;
                }
            }
            if (body.count > 0) {
                body.flush(out);
            }
        }

        /** One record body being filled. */
        private static final class Body {
            final ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
            final int disk;
            int count;
            long raw;

            Body(int disk) {
                this.disk = disk;
            }

            void add(long offset, int length, PageEncoding encoding, int stored, byte[] src, int from) {
                byte[] h = new Messages.Writer().u64(offset).u32(length).u8(encoding.code()).u32(stored)
                        .toByteArray();
                out.write(h, 0, h.length);
                out.write(src, from, stored);
                count++;
                raw += length;
            }

            void flush(BodySink sink) throws CheckpointException, InterruptedException {
                byte[] entries = out.toByteArray();
                byte[] body = ByteBuffer.allocate(RECORD_HEADER_BYTES + entries.length).putInt(disk).putInt(count)
                        .put(entries).array();
                sink.body(body, count, raw);
            }
        }
    }

    /** The receiving end; not thread-safe. */
    public static final class Decoder {

        private final LZ4SafeDecompressor decompressor = LZ4.safeDecompressor();

        /**
         * Decodes a body and adds its writes to {@code checksum}.
         *
         * @throws MalformedRecordException if the body is inconsistent: a count that its length cannot hold, a
         *                                  negative disk index or offset, an empty or too long write, an unknown or
         *                                  unusable encoding, LZ4 data that does not decode to exactly the write's
         *                                  length, more decoded bytes than {@link #MAX_DECODED_BYTES}, trailing bytes
         */
        public Decoded decode(byte[] body, CRC32C checksum) throws MalformedRecordException {
            ByteBuffer in = ByteBuffer.wrap(body).order(ByteOrder.BIG_ENDIAN);
            if (in.remaining() < RECORD_HEADER_BYTES) {
                throw new MalformedRecordException("DISK_WRITES body of " + body.length + " bytes has no disk index "
                        + "and count");
            }
            int disk = in.getInt();
            if (disk < 0) {
                throw new MalformedRecordException("DISK_WRITES for disk index " + Integer.toUnsignedLong(disk));
            }
            long count = Integer.toUnsignedLong(in.getInt());
            if (count == 0 || count * WRITE_HEADER_BYTES > in.remaining()) {
                throw new MalformedRecordException("DISK_WRITES says " + count + " writes but its body has only "
                        + body.length + " bytes");
            }
            List<DiskWrite> writes = new ArrayList<>((int) count);
            long decoded = 0;
            for (int i = 0; i < count; i++) {
                if (in.remaining() < WRITE_HEADER_BYTES) {
                    throw new MalformedRecordException("DISK_WRITES says " + count + " writes but ends after " + i);
                }
                long offset = in.getLong();
                long length = Integer.toUnsignedLong(in.getInt());
                int code = Byte.toUnsignedInt(in.get());
                long stored = Integer.toUnsignedLong(in.getInt());
                if (offset < 0) {
                    throw new MalformedRecordException("disk write at negative offset " + offset);
                }
                if (length == 0 || length > MAX_WRITE_BYTES) {
                    throw new MalformedRecordException("disk write at " + offset + " of " + length
                            + " bytes; a write holds 1.." + MAX_WRITE_BYTES);
                }
                if (offset + length < 0) {
                    throw new MalformedRecordException("disk write at " + offset + " of " + length
                            + " bytes ends past the largest offset");
                }
                decoded += length;
                if (decoded > MAX_DECODED_BYTES) {
                    throw new MalformedRecordException("DISK_WRITES decodes to more than " + MAX_DECODED_BYTES
                            + " bytes");
                }
                if (stored > in.remaining()) {
                    throw new MalformedRecordException("disk write at " + offset + " claims " + stored
                            + " bytes of data but the DISK_WRITES has " + in.remaining() + " left");
                }
                PageEncoding encoding = PageEncoding.of(code);
                int len = (int) length;
                byte[] data = new byte[len];
                if (encoding == null || encoding == PageEncoding.XOR_DELTA) {
                    throw new MalformedRecordException("unknown disk write encoding " + code + " at offset " + offset);
                }
                switch (encoding) {
                    case ZERO -> {
                        if (stored != 0) {
                            throw new MalformedRecordException("ZERO disk write at " + offset + " carries " + stored
                                    + " bytes");
                        }
                    }
                    case RAW -> {
                        if (stored != length) {
                            throw new MalformedRecordException("RAW disk write at " + offset + " stores " + stored
                                    + " bytes for a length of " + length);
                        }
                        in.get(data);
                    }
                    case LZ4 -> {
                        int n;
                        try {
                            n = decompressor.decompress(body, in.position(), (int) stored, data, 0, len);
                        } catch (LZ4Exception e) {
                            throw new MalformedRecordException("LZ4 data of the disk write at " + offset
                                    + " does not decode: " + e.getMessage(), e);
                        }
                        if (n != len) {
                            throw new MalformedRecordException("LZ4 data of the disk write at " + offset
                                    + " decodes to " + n + " bytes, not " + len);
                        }
                        in.position(in.position() + (int) stored);
                    }
                    default -> throw new IllegalStateException(encoding.name());
                }
                checksumWrite(checksum, disk, offset, data, 0, len);
                writes.add(new DiskWrite(offset, data));
            }
            if (in.hasRemaining()) {
                throw new MalformedRecordException("DISK_WRITES of " + count + " writes has " + in.remaining()
                        + " bytes after its last write");
            }
            return new Decoded(disk, writes);
        }
    }
}
