package io.romulus.transport.mina.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;

import org.junit.jupiter.api.Test;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.transport.RecordType;

class DiskWriteCodecTest {

    private final Random random = new Random(11);

    private static List<byte[]> encode(int maxRecordBytes, int disk, List<DiskWrite> writes, CRC32C crc,
            List<Integer> counts) throws Exception {
        List<byte[]> bodies = new ArrayList<>();
        new DiskWriteCodec.Encoder(maxRecordBytes).encode(disk, writes, crc, (body, n, raw) -> {
            bodies.add(body);
            counts.add(n);
        });
        return bodies;
    }

    /**
     * The layout, byte for byte: a 4-byte write that does not compress travels RAW, 8 zero bytes travel as ZERO with
     * nothing stored; the frame is the common one ({@code type 4}, flags, length, epoch, body, CRC32C).
     */
    @Test
    void goldenBytesOfOneDiskWritesRecord() throws Exception {
        CRC32C crc = new CRC32C();
        List<Integer> counts = new ArrayList<>();
        List<byte[]> bodies = encode(RecordCodec.DEFAULT_MAX_RECORD_BYTES, 1, List.of(
                new DiskWrite(0x1000, "ABCD".getBytes(StandardCharsets.US_ASCII)),
                new DiskWrite(0x2000, new byte[8])), crc, counts);
        assertEquals(1, bodies.size());
        assertEquals(List.of(2), counts);
        byte[] frame = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES)
                .encode(new Record(RecordType.DISK_WRITES, 0, 7, bodies.get(0)));
        assertEquals("0004" + "0000" + "0000002e" + "0000000000000007"   // type, flags, length, epoch
                + "00000001" + "00000002"                                  // disk 1, 2 writes
                + "0000000000001000" + "00000004" + "00" + "00000004" + "41424344" // at 0x1000, 4 bytes, RAW
                + "0000000000002000" + "00000008" + "01" + "00000000"     // at 0x2000, 8 bytes, ZERO
                + "a4b98ebf",                                              // CRC32C of header and body
                HexFormat.of().formatHex(frame));
        // the epoch checksum covers disk index, offset, length (big-endian) and the decoded data of each write
        assertEquals(0x0ece24c2, (int) crc.getValue());
    }

    @Test
    void writesRoundTripCompressedAndSplitIntoBoundedRecords() throws Exception {
        byte[] text = new byte[300_000];
        for (int i = 0; i < text.length; i++) {
            text[i] = (byte) "journal entry 42; ".charAt(i % 18);
        }
        byte[] noise = new byte[5000];
        random.nextBytes(noise);
        byte[] big = new byte[DiskWriteCodec.MAX_WRITE_BYTES + 12345];
        random.nextBytes(big);
        List<DiskWrite> writes = List.of(new DiskWrite(0, text), new DiskWrite(1 << 20, noise),
                new DiskWrite(512, new byte[0]), new DiskWrite(7L << 30, big), new DiskWrite(4096, new byte[65536]));
        int max = 64 * 1024;
        CRC32C sent = new CRC32C();
        List<Integer> counts = new ArrayList<>();
        List<byte[]> bodies = encode(max, 3, writes, sent, counts);
        assertTrue(bodies.size() > 10, "split: " + bodies.size());
        assertTrue(bodies.stream().allMatch(b -> b.length <= max), "every body fits max.record.bytes");

        CRC32C received = new CRC32C();
        DiskWriteCodec.Decoder decoder = new DiskWriteCodec.Decoder();
        List<DiskWrite> back = new ArrayList<>();
        int count = 0;
        for (byte[] b : bodies) {
            DiskWriteCodec.Decoded d = decoder.decode(b, received);
            assertEquals(3, d.disk());
            back.addAll(d.writes());
            count += d.writes().size();
        }
        assertEquals(counts.stream().mapToInt(Integer::intValue).sum(), count, "counted as they travel");
        assertEquals(sent.getValue(), received.getValue(), "checksum over decoded data");
        // reassemble each original write from its pieces: consecutive ranges, in order, the empty one left out
        int i = 0;
        for (DiskWrite w : writes) {
            if (w.data().length == 0) {
                continue;
            }
            ByteBuffer joined = ByteBuffer.allocate(w.data().length);
            long next = w.offset();
            while (joined.hasRemaining()) {
                DiskWrite piece = back.get(i++);
                assertEquals(next, piece.offset());
                joined.put(piece.data());
                next += piece.data().length;
            }
            assertArrayEquals(w.data(), joined.array());
        }
        assertEquals(back.size(), i);
        int wire = bodies.stream().mapToInt(b -> b.length).sum();
        int raw = writes.stream().mapToInt(w -> w.data().length).sum();
        assertTrue(wire < raw - 300_000 + 20_000, "text and zeroes shrink: " + wire + " of " + raw);
    }

    private static byte[] body(Object... fields) {
        ByteBuffer b = ByteBuffer.allocate(256);
        for (Object f : fields) {
            if (f instanceof Long l) {
                b.putLong(l);
            } else if (f instanceof Integer i) {
                b.putInt(i);
            } else if (f instanceof Byte x) {
                b.put(x);
            } else {
                b.put((byte[]) f);
            }
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    private static void refused(String expected, byte[] body) {
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> new DiskWriteCodec.Decoder().decode(body, new CRC32C()));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void inconsistentBodiesAreRefused() {
        refused("has no disk index", new byte[] {0, 0, 0});
        refused("says 5 writes", body(0, 5, 0L, 4, (byte) 0, 4, new byte[4]));
        refused("says 0 writes", body(0, 0));
        refused("disk index 4294967295", body(-1, 1, 0L, 4, (byte) 0, 4, new byte[4]));
        refused("negative offset", body(0, 1, -4096L, 4, (byte) 0, 4, new byte[4]));
        refused("of 0 bytes", body(0, 1, 0L, 0, (byte) 0, 0));
        refused("a write holds 1.." + DiskWriteCodec.MAX_WRITE_BYTES, body(0, 1, 0L, (1 << 20) + 1, (byte) 1, 0));
        refused("unknown disk write encoding 2", body(0, 1, 0L, 4, (byte) 2, 4, new byte[4]));
        refused("unknown disk write encoding 9", body(0, 1, 0L, 4, (byte) 9, 4, new byte[4]));
        refused("RAW disk write at 0 stores 3 bytes", body(0, 1, 0L, 4, (byte) 0, 3, new byte[3]));
        refused("ZERO disk write at 0 carries 4", body(0, 1, 0L, 4, (byte) 1, 4, new byte[4]));
        refused("claims 100 bytes", body(0, 1, 0L, 100, (byte) 0, 100, new byte[4]));
        refused("LZ4 data of the disk write at 8", body(0, 1, 8L, 64, (byte) 3, 4, new byte[] {(byte) 0xff, 1, 2,
            3}));
        refused("after its last write", body(0, 1, 0L, 4, (byte) 0, 4, new byte[6]));
        byte[] many = ByteBuffer.allocate(8 + 17 * 17).putInt(0).putInt(17).array();
        ByteBuffer m = ByteBuffer.wrap(many).position(8);
        for (int i = 0; i < 17; i++) {
            m.putLong((long) i << 20).putInt(1 << 20).put((byte) 1).putInt(0);
        }
        refused("decodes to more than " + DiskWriteCodec.MAX_DECODED_BYTES, many);
    }
}
