package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.romulus.api.transport.CheckpointException;

import org.junit.jupiter.api.Test;

class DeviceStateEnvelopeTest {

    @Test
    void roundTripsWithAndWithoutDigest() throws Exception {
        byte[] state = {1, 2, 3, 4, 5};
        DeviceStateEnvelope plain = DeviceStateEnvelope.decode(new DeviceStateEnvelope(state, false, 0).encode());
        assertFalse(plain.verify());
        assertArrayEquals(state, plain.bindingState());

        byte[] framed = new DeviceStateEnvelope(state, true, 0xCAFEBABE).encode();
        assertArrayEquals(new byte[] {1, 1, (byte) 0xCA, (byte) 0xFE, (byte) 0xBA, (byte) 0xBE, 1, 2, 3, 4, 5}, framed);
        DeviceStateEnvelope verified = DeviceStateEnvelope.decode(framed);
        assertTrue(verified.verify());
        assertEquals(0xCAFEBABE, verified.memoryDigest());
        assertArrayEquals(state, verified.bindingState());
    }

    @Test
    void refusesWhatItCannotRead() {
        assertThrows(CheckpointException.class, () -> DeviceStateEnvelope.decode(new byte[] {1}));
        assertThrows(CheckpointException.class, () -> DeviceStateEnvelope.decode(new byte[] {9, 0}));
        assertThrows(CheckpointException.class, () -> DeviceStateEnvelope.decode(new byte[] {1, 1, 0}));
    }
}
