package io.romulus.transport.mina.internal;

import io.romulus.api.transport.RecordType;

/**
 * One record of the checkpoint stream, before framing: {@code type:u16, flags:u16, length:u32, epoch:u64,
 * body[length], crc32c:u32}.
 *
 * @param type  the record type
 * @param flags type-specific flags (HELLO: the handshake step)
 * @param epoch the epoch the record belongs to, {@code 0} when it has none
 * @param body  the body, not copied
 */
@SuppressWarnings("JavaLangClash") // the wire protocol's own name for it; java.lang.Record is never meant here
public record Record(RecordType type, int flags, long epoch, byte[] body) {

    /** Bytes this record takes on the wire. */
    public int frameLength() {
        return RecordCodec.HEADER_BYTES + body.length + RecordCodec.TRAILER_BYTES;
    }

    @Override
    public String toString() {
        return type + "(flags=" + flags + ", epoch=" + epoch + ", " + body.length + " bytes)";
    }
}
