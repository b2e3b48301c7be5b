package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The record keys of one stream, one per direction, derived with HKDF-SHA256 (RFC 5869) once both ends have proved
 * the pre-shared secret.
 *
 * <p>{@code PRK = HMAC-SHA256(primary nonce | backup nonce, secret)}; each direction's key is
 * {@code HMAC-SHA256(PRK, label | protection | SHA-256(u32 length | step-1 body | u32 length | step-2 body) | 0x01)}
 * with the labels {@code "romulus stream v2 primary to backup"} and {@code "romulus stream v2 backup to primary"}.
 * Both nonces are fresh per connection, so every stream gets keys of its own and a recorded stream cannot be replayed
 * into another. The hash binds the keys to the whole HELLO and challenge as both ends saw them (node ids, domain,
 * options, sizes, the proposed protections): a tampered handshake leaves the two ends with different keys, and the
 * first protected record fails to verify. The proofs of the handshake cover the step-1 body already.
 *
 * <p>Why keys from the pre-shared secret rather than TLS 1.3 by default: the secret exists on every pair already (it is
 * generated on first start and copied to the peer), so confidentiality and integrity need no PKI, no certificates to
 * issue, rotate and check against node identities; and AES-GCM through {@code javax.crypto} uses the CPU's AES and
 * carry-less multiply instructions. TLS (1.3 by default, each peer's certificate checked against its node id:
 * {@link PeerIdentity}) remains available on top, for sites that want certificates.
 */
final class StreamKeys {

    static final int KEY_BYTES = 32;
    private static final byte[] PRIMARY_TO_BACKUP = label("romulus stream v2 primary to backup");
    private static final byte[] BACKUP_TO_PRIMARY = label("romulus stream v2 backup to primary");
    private static final byte[] KEY_UPDATE = label("romulus stream v2 key update");

    private final byte[] primaryToBackup;
    private final byte[] backupToPrimary;

    private StreamKeys(byte[] primaryToBackup, byte[] backupToPrimary) {
        this.primaryToBackup = primaryToBackup;
        this.backupToPrimary = backupToPrimary;
    }

    /**
     * The keys of a stream.
     *
     * @param secret        the pre-shared secret, {@code null} when the stream runs without one (then the keys come
     *                      from public values: they detect corruption but protect against no attacker)
     * @param clientHello   the step-1 body as sent
     * @param challenge     the step-2 body as sent
     * @param primaryNonce  the nonce of step 1
     * @param backupNonce   the nonce of step 2
     * @param protection    what both ends agreed on
     */
    static StreamKeys derive(SharedSecret secret, byte[] clientHello, byte[] challenge, byte[] primaryNonce,
            byte[] backupNonce, StreamProtection protection) {
        byte[] salt = ByteBuffer.allocate(primaryNonce.length + backupNonce.length).put(primaryNonce)
                .put(backupNonce).array();
        byte[] prk = hmac(salt, secret == null ? new byte[0] : secret.material());
        byte[] transcript = transcript(clientHello, challenge);
        byte[] mode = {(byte) protection.code()};
        return new StreamKeys(expand(prk, PRIMARY_TO_BACKUP, mode, transcript),
                expand(prk, BACKUP_TO_PRIMARY, mode, transcript));
    }

    byte[] primaryToBackup() {
        return primaryToBackup.clone();
    }

    byte[] backupToPrimary() {
        return backupToPrimary.clone();
    }

    /** The next key of a direction (HKDF-Expand of the current one), after {@link RecordCipher#REKEY_BYTES}. */
    static byte[] next(byte[] key) {
        return expand(key, KEY_UPDATE);
    }

    private static byte[] transcript(byte[] clientHello, byte[] challenge) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(ByteBuffer.allocate(4).putInt(clientHello.length).array());
            sha.update(clientHello);
            sha.update(ByteBuffer.allocate(4).putInt(challenge.length).array());
            sha.update(challenge);
            return sha.digest();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    /** HKDF-Expand for one block: {@code HMAC(prk, info | 0x01)}. */
    private static byte[] expand(byte[] prk, byte[]... info) {
        byte[][] parts = new byte[info.length + 1][];
        System.arraycopy(info, 0, parts, 0, info.length);
        parts[info.length] = new byte[] {1};
        return hmac(prk, parts);
    }

    private static byte[] hmac(byte[] key, byte[]... parts) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            for (byte[] p : parts) {
                mac.update(p);
            }
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    private static byte[] label(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }
}
