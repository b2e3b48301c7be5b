package io.romulus.detector.internal;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * One heartbeat datagram, big-endian:
 *
 * <pre>
 *   0  magic      4 bytes  "RMHB" (0x524D4842)
 *   4  version    1 byte   2
 *   5  length     1 byte   n, bytes of the node id (1-255)
 *   6  node id    n bytes  the sender's node id, UTF-8
 * 6+n  sequence   8 bytes  counts up per sender, from its wall clock in microseconds when it started
 * 14+n sent at    8 bytes  the sender's wall clock, milliseconds since the epoch
 * 22+n MAC       16 bytes  HMAC-SHA256 of bytes 0 to 22+n under the heartbeat key, truncated
 *                          ({@link HeartbeatKey}); zeros from a node without a secret
 * </pre>
 *
 * <p>The sequence starts from the wall clock so that a restarted sender continues above the heartbeats it sent
 * before (a receiver accepts only increasing sequences per sender, {@link HeartbeatGuard}).
 *
 * @param nodeId   the sender's node id
 * @param sequence the sender's heartbeat counter
 * @param sentAt   the sender's wall clock at sending, in epoch milliseconds
 */
public record Heartbeat(String nodeId, long sequence, long sentAt) {

    public static final int MAGIC = 0x524D4842;
    public static final byte VERSION = 2;
    public static final int MAX_NODE_ID_BYTES = 255;
    /** The largest heartbeat datagram. */
    public static final int MAX_BYTES = 6 + MAX_NODE_ID_BYTES + 16 + HeartbeatKey.MAC_BYTES;

    /** Thrown for a datagram that is not a heartbeat of this version. */
    public static final class MalformedException extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedException(String message) {
            super(message);
        }
    }

    public Heartbeat {
        if (nodeId == null || nodeId.isEmpty()) {
            throw new IllegalArgumentException("a heartbeat needs a node id");
        }
    }

    /** This heartbeat as a datagram without a MAC (zeros), as a node without a secret sends it. */
    public byte[] toBytes() {
        return toBytes(null);
    }

    /** This heartbeat as a datagram, with its MAC under {@code key} (null: zeros). */
    public byte[] toBytes(HeartbeatKey key) {
        byte[] id = nodeId.getBytes(StandardCharsets.UTF_8);
        if (id.length > MAX_NODE_ID_BYTES) {
            throw new IllegalArgumentException("node id longer than " + MAX_NODE_ID_BYTES + " bytes: " + nodeId);
        }
        ByteBuffer b = ByteBuffer.allocate(22 + id.length + HeartbeatKey.MAC_BYTES);
        b.putInt(MAGIC).put(VERSION).put((byte) id.length).put(id).putLong(sequence).putLong(sentAt);
        byte[] bytes = b.array();
        if (key != null) {
            key.sign(bytes, b.position());
        }
        return bytes;
    }

    /** Reads a whole datagram (position to limit); the MAC is not checked here ({@link HeartbeatKey#verify}). */
    public static Heartbeat decode(ByteBuffer in) throws MalformedException {
        int size = in.remaining();
        try {
            int magic = in.getInt();
            if (magic != MAGIC) {
                throw new MalformedException(String.format("not a heartbeat (magic 0x%08x)", magic));
            }
            byte version = in.get();
            if (version != VERSION) {
                throw new MalformedException("heartbeat version " + version + ", this node speaks " + VERSION);
            }
            int length = Byte.toUnsignedInt(in.get());
            if (length == 0) {
                throw new MalformedException("heartbeat without a node id");
            }
            if (in.remaining() != length + 16 + HeartbeatKey.MAC_BYTES) {
                throw new MalformedException("heartbeat of " + size + " bytes, "
                        + (length + 22 + HeartbeatKey.MAC_BYTES) + " expected for a node id of " + length
                        + " bytes");
            }
            byte[] id = new byte[length];
            in.get(id);
            String nodeId = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(id)).toString();
            Heartbeat heartbeat = new Heartbeat(nodeId, in.getLong(), in.getLong());
            in.position(in.position() + HeartbeatKey.MAC_BYTES);
            return heartbeat;
        } catch (BufferUnderflowException e) {
            throw new MalformedException("truncated heartbeat");
        } catch (CharacterCodingException e) {
            throw new MalformedException("node id is not UTF-8");
        }
    }
}
