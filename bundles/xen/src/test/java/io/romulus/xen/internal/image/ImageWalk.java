package io.romulus.xen.internal.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A self-check of an image's framing, not a parser: walks the headers and the records (type, length, zero padding)
 * from the libvirt header to libxl's {@code END}, which must end the file, and lists the records it passed.
 */
final class ImageWalk {

    /** One record: which stream it belongs to, its type, where it starts and its body length. */
    record Rec(String layer, int type, long offset, int length) {
    }

    private final FileChannel channel;
    private final List<Rec> records = new ArrayList<>();
    private long pos;

    private ImageWalk(FileChannel channel) {
        this.channel = channel;
    }

    static List<Rec> walk(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file)) {
            ImageWalk w = new ImageWalk(channel);
            w.walk();
            assertEquals(channel.size(), w.pos, "libxl's END record ends the file");
            return w.records;
        }
    }

    /** The types of the records of one layer, in order. */
    static List<Integer> types(List<Rec> records, String layer) {
        return records.stream().filter(r -> r.layer().equals(layer)).map(Rec::type).toList();
    }

    private void walk() throws IOException {
        ByteBuffer libvirt = read(64, ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[16];
        libvirt.get(magic);
        assertArrayEquals(StreamFormat.LIBVIRT_MAGIC, magic, "libvirt magic");
        assertEquals(2, libvirt.getInt(), "libvirt save version");
        pos = 64L + libvirt.getInt();

        ByteBuffer libxl = read(16, ByteOrder.BIG_ENDIAN);
        assertEquals(0x4c6962786c466d74L, libxl.getLong(), "libxl ident");
        assertEquals(2, libxl.getInt(), "libxl version");
        assertEquals(0, libxl.getInt(), "libxl options");
        int type;
        do {
            type = record("libxl");
            if (type == StreamFormat.LIBXL_REC_LIBXC_CONTEXT) {
                libxc();
            }
        } while (type != StreamFormat.LIBXL_REC_END);
    }

    private void libxc() throws IOException {
        ByteBuffer image = read(24, ByteOrder.BIG_ENDIAN);
        assertEquals(-1L, image.getLong(), "libxc marker");
        assertEquals(0x58454e46, image.getInt(), "libxc id");
        assertEquals(3, image.getInt(), "libxc version");
        assertEquals(0, image.getShort(), "libxc options");
        ByteBuffer domain = read(16, ByteOrder.LITTLE_ENDIAN);
        assertEquals(StreamFormat.DOMAIN_X86_HVM, domain.getInt(), "domain type");
        assertEquals(12, domain.getShort(), "page shift");
        while (record("libxc") != StreamFormat.REC_END) {
            // on to the next record
        }
    }

    /** Passes one record, checking that its padding is zeros; returns its type. */
    private int record(String layer) throws IOException {
        long start = pos;
        ByteBuffer header = read(8, ByteOrder.LITTLE_ENDIAN);
        int type = header.getInt();
        int length = header.getInt();
        records.add(new Rec(layer, type, start, length));
        pos += length;
        int padding = (int) RecordWriter.align(length) - length;
        ByteBuffer pad = read(padding, ByteOrder.LITTLE_ENDIAN);
        while (pad.hasRemaining()) {
            assertEquals(0, pad.get(), "padding of the " + layer + " record at " + start);
        }
        return type;
    }

    private ByteBuffer read(int n, ByteOrder order) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n).order(order);
        while (b.hasRemaining()) {
            if (channel.read(b, pos + b.position()) < 0) {
                throw new IOException("the image ends at " + (pos + b.position()) + ", inside a header or record");
            }
        }
        pos += n;
        return b.flip();
    }
}
