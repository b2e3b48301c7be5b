package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.Arrays;

import io.romulus.api.transport.CheckpointException;

/**
 * The engine's frame around a binding's opaque device state: {@code version:u8, flags:u8, [digest:u32], state}.
 * With the verify flag, the digest is the CRC32C of the primary's whole memory taken in the pause of the epoch.
 */
record DeviceStateEnvelope(byte[] bindingState, boolean verify, int memoryDigest) {

    private static final byte VERSION = 1;
    private static final byte FLAG_VERIFY = 1;

    byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(2 + (verify ? 4 : 0) + bindingState.length);
        b.put(VERSION).put(verify ? FLAG_VERIFY : 0);
        if (verify) {
            b.putInt(memoryDigest);
        }
        b.put(bindingState);
        return b.array();
    }

    static DeviceStateEnvelope decode(byte[] bytes) throws CheckpointException {
        if (bytes.length < 2) {
            throw new CheckpointException("device state of " + bytes.length + " bytes has no engine header");
        }
        if (bytes[0] != VERSION) {
            throw new CheckpointException("device state envelope version " + bytes[0] + " is not " + VERSION);
        }
        boolean verify = (bytes[1] & FLAG_VERIFY) != 0;
        int offset = 2;
        int digest = 0;
        if (verify) {
            if (bytes.length < 6) {
                throw new CheckpointException("device state envelope announces a digest it does not carry");
            }
            digest = ByteBuffer.wrap(bytes, 2, 4).getInt();
            offset = 6;
        }
        return new DeviceStateEnvelope(Arrays.copyOfRange(bytes, offset, bytes.length), verify, digest);
    }
}
