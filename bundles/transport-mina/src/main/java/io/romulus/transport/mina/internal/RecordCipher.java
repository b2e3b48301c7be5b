package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * One direction of a protected stream: its AES-256-GCM cipher (one instance for the life of the connection), its key
 * and its record sequence number.
 *
 * <p>A sealed record is framed like any other, with {@link #SEALED} set in its flags and a 16-byte GCM tag after the
 * body (the length counts it). The nonce is 4 zero bytes and the 64-bit sequence number of the record in its
 * direction, counted from 0 when the keys are installed; the additional data is the 16-byte record header. So a flipped
 * bit anywhere, a header changed, a record injected, replayed, reordered or dropped all fail the tag of the receiver,
 * which then closes the connection. With {@link StreamProtection#INTEGRITY} the body is additional data too (GMAC) and
 * travels in clear. After {@link #REKEY_BYTES} of bodies under one key both ends move to the next key
 * ({@link StreamKeys#next}), well inside AES-GCM's usage limits.
 *
 * <p>Not thread-safe: the sending direction is used under the connection's write lock, the receiving one on the
 * session's I/O thread.
 */
final class RecordCipher {

    /** Flag bit of a sealed record. */
    static final int SEALED = 0x8000;
    static final int TAG_BYTES = 16;
    static final long REKEY_BYTES = 1L << 34;
    private static final int TAG_BITS = TAG_BYTES * 8;

    private final StreamProtection protection;
    private final boolean sending;
    private final Cipher cipher;
    private final byte[] iv = new byte[12];
    private byte[] key;
    private SecretKeySpec keySpec;
    private long sequence;
    private long bytesUnderKey;

    RecordCipher(StreamProtection protection, byte[] key, boolean sending) {
        this.protection = protection;
        this.sending = sending;
        this.key = key;
        this.keySpec = new SecretKeySpec(key, "AES");
        try {
            this.cipher = protection == StreamProtection.NONE ? null : Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM/NoPadding is not available", e);
        }
    }

    StreamProtection protection() {
        return protection;
    }

    /** Whether records in this direction are sealed (anything but {@link StreamProtection#NONE}). */
    boolean seals() {
        return protection != StreamProtection.NONE;
    }

    /**
     * Seals {@code body} into {@code frame}: the header is {@code frame[0..16)}, already written with
     * {@link #SEALED} and the sealed length; the ciphertext (or the body) and the tag go at {@code frame[16..)}.
     */
    void seal(byte[] frame, byte[] body) {
        if (!sending) {
            throw new IllegalStateException("a receiving cipher does not seal");
        }
        try {
            cipher.init(Cipher.ENCRYPT_MODE, keySpec, nextNonce());
            cipher.updateAAD(frame, 0, RecordCodec.HEADER_BYTES);
            if (protection == StreamProtection.ENCRYPTED) {
                cipher.doFinal(body, 0, body.length, frame, RecordCodec.HEADER_BYTES);
            } else {
                cipher.updateAAD(body);
                System.arraycopy(body, 0, frame, RecordCodec.HEADER_BYTES, body.length);
                cipher.doFinal(frame, RecordCodec.HEADER_BYTES + body.length);
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("sealing a record failed", e);
        }
        advance(body.length);
    }

    /**
     * Opens a sealed record: {@code header} holds its 16 header bytes, {@code sealed} its sealed body (ciphertext or
     * body, then the tag), both positioned at their start.
     *
     * @throws MalformedRecordException when the tag does not verify
     */
    byte[] open(ByteBuffer header, ByteBuffer sealed, String what) throws MalformedRecordException {
        if (sending) {
            throw new IllegalStateException("a sending cipher does not open");
        }
        int length = sealed.remaining() - TAG_BYTES;
        if (length < 0) {
            throw new MalformedRecordException(what + " is sealed but shorter than its tag");
        }
        byte[] body = new byte[length];
        try {
            cipher.init(Cipher.DECRYPT_MODE, keySpec, nextNonce());
            cipher.updateAAD(header);
            if (protection == StreamProtection.ENCRYPTED) {
                cipher.doFinal(sealed, ByteBuffer.wrap(body));
            } else {
                sealed.get(body);
                cipher.updateAAD(body);
                cipher.doFinal(sealed, ByteBuffer.allocate(0));
            }
        } catch (AEADBadTagException e) {
            throw new MalformedRecordException(what + " failed authentication (record " + sequence
                    + " from this peer): it was altered, injected, replayed, reordered or a record before it was "
                    + "dropped", e);
        } catch (GeneralSecurityException e) {
            throw new MalformedRecordException("opening " + what + " failed: " + e, e);
        }
        advance(length);
        return body;
    }

    private GCMParameterSpec nextNonce() {
        if (sequence == -1L) {
            throw new IllegalStateException("the record sequence number is exhausted");
        }
        long s = sequence;
        for (int i = 11; i >= 4; i--) {
            iv[i] = (byte) s;
            s >>>= 8;
        }
        return new GCMParameterSpec(TAG_BITS, iv);
    }

    private void advance(int bodyBytes) {
        sequence++;
        bytesUnderKey += bodyBytes;
        if (bytesUnderKey >= REKEY_BYTES) {
            key = StreamKeys.next(key);
            keySpec = new SecretKeySpec(key, "AES");
            bytesUnderKey = 0;
        }
    }
}
