package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

import io.romulus.api.transport.RecordType;

/**
 * Framing of the checkpoint stream, independent of MINA: {@code type:u16, flags:u16, length:u32, epoch:u64,
 * body[length], crc32c:u32}, big-endian, the CRC32C covering header and body. After the handshake every record is
 * sealed ({@link RecordCipher}): its flags carry {@link RecordCipher#SEALED}, its body is cut into segments of 64 KiB,
 * each the AES-GCM ciphertext (or, integrity only, the body in clear) followed by its 16-byte tag, and the length
 * counts the tags.
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

    /** The framed record, sealed by {@code sealer} unless it is {@code null} or seals nothing. */
    public byte[] encode(Record record, RecordCipher sealer) {
        if (sealer == null || !sealer.seals()) {
            return encode(record);
        }
        byte[] body = record.body();
        if (body.length > maxRecordBytes) {
            throw new IllegalArgumentException(record + " is longer than max.record.bytes=" + maxRecordBytes);
        }
        int sealedLength = (int) RecordCipher.sealedLength(body.length);
        byte[] frame = new byte[HEADER_BYTES + sealedLength + TRAILER_BYTES];
        ByteBuffer buf = ByteBuffer.wrap(frame);
        buf.putShort((short) record.type().code());
        buf.putShort((short) (record.flags() | RecordCipher.SEALED));
        buf.putInt(sealedLength);
        buf.putLong(record.epoch());
        sealer.seal(frame, body);
        CRC32C crc = new CRC32C();
        crc.update(frame, 0, HEADER_BYTES + sealedLength);
        buf.putInt(HEADER_BYTES + sealedLength, (int) crc.getValue());
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
     * Decodes one record in clear from {@code in}'s position. Returns {@code null}, leaving the position unchanged, if
     * {@code in} does not yet hold a whole record; otherwise advances past it.
     *
     * @throws MalformedRecordException on an unknown type, a length over the maximum, a CRC mismatch or a sealed record
     */
    public Record decode(ByteBuffer in) throws MalformedRecordException {
        return decode(in, maxRecordBytes, null);
    }

    /**
     * Decodes one record from {@code in}'s position, as {@link #decode(ByteBuffer)}.
     *
     * @param limit  the longest body accepted now (before the handshake completes, less than the maximum)
     * @param opener {@code null} before the handshake completes: records must be in clear; afterwards the receiving
     *               direction's cipher, and every record must be sealed (unless it seals nothing), its tag verified
     * @throws MalformedRecordException on an unknown type, a length over {@code limit}, a CRC mismatch, a record
     *                                  sealed before the handshake or in clear after it, or a tag that fails
     */
    public Record decode(ByteBuffer in, int limit, RecordCipher opener) throws MalformedRecordException {
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
        boolean sealed = (flags & RecordCipher.SEALED) != 0;
        boolean mustBeSealed = opener != null && opener.seals();
        int bodyMax = Math.min(limit, maxRecordBytes);
        long max = mustBeSealed ? RecordCipher.sealedLength(bodyMax) : bodyMax;
        if (length > max) {
            throw new MalformedRecordException(type + " record of " + length + " bytes exceeds "
                    + (opener == null && limit < maxRecordBytes ? "the limit before the handshake completes, "
                            + "handshake.max.record.bytes=" + limit : "max.record.bytes=" + maxRecordBytes));
        }
        if (buf.remaining() < length + TRAILER_BYTES) {
            return null;
        }
        CRC32C crc = new CRC32C();
        ByteBuffer covered = buf.duplicate();
        covered.limit(start + HEADER_BYTES + (int) length).position(start);
        crc.update(covered);
        int expected = buf.getInt(start + HEADER_BYTES + (int) length);
        if (expected != (int) crc.getValue()) {
            throw new MalformedRecordException(String.format("CRC32C mismatch in %s record of epoch %d: "
                    + "record says %08x, computed %08x", type, epoch, expected, (int) crc.getValue()));
        }
        ByteBuffer bodyBytes = buf.duplicate();
        bodyBytes.limit(start + HEADER_BYTES + (int) length).position(start + HEADER_BYTES);
        byte[] body;
        if (sealed != mustBeSealed) {
            throw new MalformedRecordException(sealed ? "a sealed " + type + " record before the handshake completed"
                    : unsealed(type, bodyBytes));
        } else if (sealed) {
            ByteBuffer header = buf.duplicate();
            header.limit(start + HEADER_BYTES).position(start);
            body = opener.open(header, bodyBytes, type + " record of epoch " + epoch);
        } else {
            body = new byte[(int) length];
            bodyBytes.get(body);
        }
        in.position(start + HEADER_BYTES + (int) length + TRAILER_BYTES);
        return new Record(type, flags & ~RecordCipher.SEALED, epoch, body);
    }

    /** Why a record in clear after the handshake is refused; an ERROR's text is told, never obeyed. */
    private static String unsealed(RecordType type, ByteBuffer body) {
        if (type != RecordType.ERROR) {
            return "a " + type + " record in clear after the handshake (not authenticated)";
        }
        byte[] text = new byte[Math.min(body.remaining(), 200)];
        body.get(text);
        return "an ERROR in clear after the handshake (not authenticated, not obeyed): "
                + Messages.parseError(text).replaceAll("\\p{Cntrl}", "?");
    }
}
