package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

import io.romulus.api.transport.RecordType;

/**
 * Framing of the checkpoint stream, independent of MINA: {@code type:u16, flags:u16, length:u32, epoch:u64,
 * body[length], crc32c:u32}, big-endian, the CRC32C covering header and body.
 */
public final class RecordCodec {

    public static final int HEADER_BYTES = 16;
    public static final int TRAILER_BYTES = 4;
    public static final int DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

    private final int maxRecordBytes;

    /** @param maxRecordBytes the largest body accepted; longer lengths are refused before anything is allocated */
    public RecordCodec(int maxRecordBytes) {
        if (maxRecordBytes < 1024) {
            throw new IllegalArgumentException("max.record.bytes must be at least 1024, not " + maxRecordBytes);
        }
        this.maxRecordBytes = maxRecordBytes;
    }

    public int maxRecordBytes() {
        return maxRecordBytes;
    }

    /** The framed record. */
    public byte[] encode(Record record) {
        byte[] frame = new byte[record.frameLength()];
        encodeInto(record, ByteBuffer.wrap(frame));
        return frame;
    }

    /** Writes the framed record at {@code out}'s position, which must have {@link Record#frameLength()} room. */
    public void encodeInto(Record record, ByteBuffer out) {
        if (record.body().length > maxRecordBytes) {
            throw new IllegalArgumentException(record + " is longer than max.record.bytes=" + maxRecordBytes);
        }
        ByteBuffer buf = out.duplicate().order(ByteOrder.BIG_ENDIAN);
        int start = buf.position();
        buf.putShort((short) record.type().code());
        buf.putShort((short) record.flags());
        buf.putInt(record.body().length);
        buf.putLong(record.epoch());
        buf.put(record.body());
        CRC32C crc = new CRC32C();
        ByteBuffer covered = buf.duplicate();
        covered.limit(buf.position()).position(start);
        crc.update(covered);
        buf.putInt((int) crc.getValue());
        out.position(buf.position());
    }

    /**
     * Decodes one record from {@code in}'s position. Returns {@code null}, leaving the position unchanged, if
     * {@code in} does not yet hold a whole record; otherwise advances past it.
     *
     * @throws MalformedRecordException on an unknown type, a length over the maximum or a CRC mismatch
     */
    public Record decode(ByteBuffer in) throws MalformedRecordException {
        if (in.remaining() < HEADER_BYTES) {
            return null;
        }
        ByteBuffer buf = in.duplicate().order(ByteOrder.BIG_ENDIAN);
        int start = buf.position();
        int typeCode = Short.toUnsignedInt(buf.getShort());
        int flags = Short.toUnsignedInt(buf.getShort());
        long length = Integer.toUnsignedLong(buf.getInt());
        long epoch = buf.getLong();
        RecordType type = RecordType.of(typeCode);
        if (type == null) {
            throw new MalformedRecordException("unknown record type " + typeCode);
        }
        if (length > maxRecordBytes) {
            throw new MalformedRecordException(
                    type + " record of " + length + " bytes exceeds max.record.bytes=" + maxRecordBytes);
        }
        if (buf.remaining() < length + TRAILER_BYTES) {
            return null;
        }
        byte[] body = new byte[(int) length];
        buf.get(body);
        CRC32C crc = new CRC32C();
        ByteBuffer covered = buf.duplicate();
        covered.limit(buf.position()).position(start);
        crc.update(covered);
        int expected = buf.getInt();
        if (expected != (int) crc.getValue()) {
            throw new MalformedRecordException(String.format("CRC32C mismatch in %s record of epoch %d: "
                    + "record says %08x, computed %08x", type, epoch, expected, (int) crc.getValue()));
        }
        in.position(buf.position());
        return new Record(type, flags, epoch, body);
    }
}
