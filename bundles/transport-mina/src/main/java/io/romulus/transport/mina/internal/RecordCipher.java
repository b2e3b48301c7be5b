package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.util.concurrent.atomic.AtomicBoolean;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import io.romulus.api.transport.RecordType;

/**
 * One direction of a protected stream: its AES-256-GCM cipher (one instance for the life of the connection), its key
 * and its sequence number.
 *
 * <p>A sealed record is framed like any other, with {@link #SEALED} set in its flags; its body is cut into segments
 * of {@value #SEGMENT_BYTES} bytes (the last one shorter; an empty body is one empty segment), each sealed on its own
 * and followed by its 16-byte GCM tag; the length counts the tags. The nonce of a segment is 4 zero bytes and the 64-bit
 * sequence number of the segment in its direction, counted from 0 when the keys are installed; the additional data of
 * every segment is the 16-byte record header (with the record's whole length). So a flipped bit anywhere, a header
 * changed, a record or segment injected, replayed, reordered, cut or dropped all fail a tag at the receiver, which then
 * closes the connection. With {@link StreamProtection#INTEGRITY} the segment is additional data too (GMAC) and travels
 * in clear. After {@link #REKEY_BYTES} of bodies under one key both ends move to the next key ({@link StreamKeys#next}),
 * well inside AES-GCM's usage limits.
 *
 * <p>Segments keep each call into the JDK's AES-GCM short: the JIT compiles the AES and GHASH intrinsics only for
 * methods called often enough, and one call per multi-MiB record (a {@code PAGE_BATCH} can be 16 MiB) stays in the
 * interpreter's pure-Java GHASH for minutes, at tens of MiB/s instead of GiB/s (measured with JDK 17).
 *
 * <p>Not thread-safe: the sending direction is used under the connection's write lock, the receiving one on the
 * session's I/O thread.
 */
final class RecordCipher {

    /** Flag bit of a sealed record. */
    static final int SEALED = 0x8000;
    static final int TAG_BYTES = 16;
    static final int SEGMENT_BYTES = 64 * 1024;
    static final long REKEY_BYTES = 1L << 34;
    private static final int TAG_BITS = TAG_BYTES * 8;
    private static final AtomicBoolean WARMED_UP = new AtomicBoolean();
    private static final int WARM_UP_RECORDS = 20_000;

    private final StreamProtection protection;
    private final boolean sending;
    private final Cipher cipher;
    private final long rekeyBytes;
    private final byte[] iv = new byte[12];
    private byte[] key;
    private SecretKeySpec keySpec;
    private long sequence;
    private long bytesUnderKey;

    RecordCipher(StreamProtection protection, byte[] key, boolean sending) {
        this(protection, key, sending, REKEY_BYTES);
    }

    /** With another rekeying threshold, for tests. */
    RecordCipher(StreamProtection protection, byte[] key, boolean sending, long rekeyBytes) {
        this.protection = protection;
        this.rekeyBytes = rekeyBytes;
        this.sending = sending;
        this.key = key;
        this.keySpec = new SecretKeySpec(key, "AES");
        try {
            this.cipher = protection == StreamProtection.NONE ? null : Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM/NoPadding is not available", e);
        }
    }

    /**
     * Once per JVM, on a daemon thread: seals and opens {@value #WARM_UP_RECORDS} small records under a
     * throwaway key, so that the JIT has compiled the AES-GCM paths (and with them the AES and GHASH intrinsics) before
     * the first stream needs them. Without it the first few hundred MiB of a stream (the initial copy of a VM) run
     * in the interpreter's pure-Java GHASH, at about 20 ms of CPU per MiB instead of 1 (measured with JDK 17).
     */
    static void warmUp() {
        if (!WARMED_UP.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> {
            RecordCodec codec = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES);
            Record record = new Record(RecordType.PAGE_BATCH, 0, 1, new byte[512]);
            for (StreamProtection p : new StreamProtection[] {StreamProtection.ENCRYPTED,
                StreamProtection.INTEGRITY}) {
                byte[] key = new byte[StreamKeys.KEY_BYTES];
                RecordCipher sealer = new RecordCipher(p, key, true);
                RecordCipher opener = new RecordCipher(p, key, false);
                try {
                    for (int i = 0; i < WARM_UP_RECORDS; i++) {
                        codec.decode(ByteBuffer.wrap(codec.encode(record, sealer)), codec.maxRecordBytes(), opener);
                    }
                } catch (MalformedRecordException e) {
                    throw new IllegalStateException("a record sealed here does not open here", e);
                }
            }
        }, "romulus-stream-crypto-warm-up");
        t.setDaemon(true);
        t.start();
    }

    StreamProtection protection() {
        return protection;
    }

    /** Whether records in this direction are sealed (anything but {@link StreamProtection#NONE}). */
    boolean seals() {
        return protection != StreamProtection.NONE;
    }

    /** The length of a sealed body of {@code bodyBytes} bytes: the body and one tag per segment. */
    static long sealedLength(long bodyBytes) {
        return bodyBytes + TAG_BYTES * segments(bodyBytes);
    }

    private static long segments(long bodyBytes) {
        return Math.max(1, (bodyBytes + SEGMENT_BYTES - 1) / SEGMENT_BYTES);
    }

    /**
     * Seals {@code body} into {@code frame}: the header is {@code frame[0..16)}, already written with
     * {@link #SEALED} and the sealed length; the segments, each with its tag, go at {@code frame[16..)}.
     */
    void seal(byte[] frame, byte[] body) {
        if (!sending) {
            throw new IllegalStateException("a receiving cipher does not seal");
        }
        int out = RecordCodec.HEADER_BYTES;
        int from = 0;
        try {
            do {
                int n = Math.min(SEGMENT_BYTES, body.length - from);
                cipher.init(Cipher.ENCRYPT_MODE, keySpec, nextNonce());
                cipher.updateAAD(frame, 0, RecordCodec.HEADER_BYTES);
                if (protection == StreamProtection.ENCRYPTED) {
                    out += cipher.doFinal(body, from, n, frame, out);
                } else {
                    cipher.updateAAD(body, from, n);
                    System.arraycopy(body, from, frame, out, n);
                    out += n;
                    out += cipher.doFinal(frame, out);
                }
                from += n;
            } while (from < body.length);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("sealing a record failed", e);
        }
        advanceBytes(body.length);
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
        int total = sealed.remaining();
        long segments = Math.max(1, (total + SEGMENT_BYTES + TAG_BYTES - 1) / (SEGMENT_BYTES + TAG_BYTES));
        int length = (int) (total - TAG_BYTES * segments);
        if (length < 0 || sealedLength(length) != total) {
            throw new MalformedRecordException(what + " is sealed but " + total + " bytes long, which no body seals to");
        }
        byte[] body = new byte[length];
        int from = 0;
        try {
            do {
                int n = Math.min(SEGMENT_BYTES, length - from);
                ByteBuffer segment = sealed.duplicate();
                segment.limit(sealed.position() + n + TAG_BYTES);
                cipher.init(Cipher.DECRYPT_MODE, keySpec, nextNonce());
                cipher.updateAAD(header.duplicate());
                if (protection == StreamProtection.ENCRYPTED) {
                    cipher.doFinal(segment, ByteBuffer.wrap(body, from, n));
                } else {
                    segment.get(body, from, n);
                    cipher.updateAAD(body, from, n);
                    cipher.doFinal(segment, ByteBuffer.allocate(0));
                }
                sealed.position(sealed.position() + n + TAG_BYTES);
                from += n;
            } while (from < length);
        } catch (AEADBadTagException e) {
            throw new MalformedRecordException(what + " failed authentication (segment " + sequence
                    + " from this peer): it was altered, injected, replayed, reordered or something before it was "
                    + "dropped", e);
        } catch (GeneralSecurityException e) {
            throw new MalformedRecordException("opening " + what + " failed: " + e, e);
        }
        advanceBytes(length);
        return body;
    }

    /** The nonce of the next segment; counts it. */
    private GCMParameterSpec nextNonce() {
        if (sequence == -1L) {
            throw new IllegalStateException("the sequence number is exhausted");
        }
        long s = sequence++;
        for (int i = 11; i >= 4; i--) {
            iv[i] = (byte) s;
            s >>>= 8;
        }
        return new GCMParameterSpec(TAG_BITS, iv);
    }

    private void advanceBytes(int bodyBytes) {
        bytesUnderKey += bodyBytes;
        if (bytesUnderKey >= rekeyBytes) {
            key = StreamKeys.next(key);
            keySpec = new SecretKeySpec(key, "AES");
            bytesUnderKey = 0;
        }
    }
}
