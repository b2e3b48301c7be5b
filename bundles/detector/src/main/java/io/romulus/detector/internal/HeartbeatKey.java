package io.romulus.detector.internal;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;

import javax.crypto.Mac;
import javax.crypto.ShortBufferException;
import javax.crypto.spec.SecretKeySpec;

/**
 * The key heartbeats are authenticated with: HMAC-SHA256 under a key derived from the nodes' pre-shared secret (the
 * stream's {@code auth.secret.file}) as {@code HMAC-SHA256(secret, "romulus-heartbeat")}, so that no heartbeat MAC is
 * ever a value the stream's handshake computes. A heartbeat's MAC is the first 16 bytes of the HMAC of the datagram
 * before it: 128 bits, beyond forgery, in a datagram that stays small.
 *
 * <p>Cheap on the receiving path: each thread keeps its own initialised {@link Mac} and output buffer, so that
 * verifying allocates nothing.
 */
public final class HeartbeatKey {

    /** Bytes of a heartbeat's MAC. */
    public static final int MAC_BYTES = 16;

    private static final String ALGORITHM = "HmacSHA256";
    private static final byte[] LABEL = "romulus-heartbeat".getBytes(StandardCharsets.US_ASCII);

    /** One thread's MAC and output buffer. */
    private static final class PerThread {
        final Mac mac;
        final byte[] out;

        PerThread(Mac mac) {
            this.mac = mac;
            this.out = new byte[mac.getMacLength()];
        }
    }

    private final ThreadLocal<PerThread> macs;

    private HeartbeatKey(SecretKeySpec key) {
        this.macs = ThreadLocal.withInitial(() -> new PerThread(newMac(key)));
    }

    /** The heartbeat key of a pre-shared secret. */
    public static HeartbeatKey of(byte[] secret) {
        Mac derive = newMac(new SecretKeySpec(secret, ALGORITHM));
        return new HeartbeatKey(new SecretKeySpec(derive.doFinal(LABEL), ALGORITHM));
    }

    /** Writes the MAC of {@code datagram[0, length)} at {@code datagram[length, length + 16)}. */
    void sign(byte[] datagram, int length) {
        PerThread t = compute(datagram, length);
        System.arraycopy(t.out, 0, datagram, length, MAC_BYTES);
    }

    /** Whether the last 16 of {@code datagram[0, size)} are the MAC of the bytes before them (in constant time). */
    public boolean verify(byte[] datagram, int size) {
        if (size < MAC_BYTES) {
            return false;
        }
        int length = size - MAC_BYTES;
        byte[] expected = compute(datagram, length).out;
        int difference = 0;
        for (int i = 0; i < MAC_BYTES; i++) {
            difference |= expected[i] ^ datagram[length + i];
        }
        return difference == 0;
    }

    private PerThread compute(byte[] datagram, int length) {
        PerThread t = macs.get();
        t.mac.update(datagram, 0, length);
        try {
            t.mac.doFinal(t.out, 0);
        } catch (ShortBufferException e) {
            throw new IllegalStateException(e);
        }
        return t;
    }

    private static Mac newMac(SecretKeySpec key) {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            return mac;
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException(ALGORITHM + " is not available", e);
        }
    }

    @Override
    public String toString() {
        return "heartbeat key (" + ALGORITHM + ", " + MAC_BYTES * 8 + "-bit MAC)";
    }
}
