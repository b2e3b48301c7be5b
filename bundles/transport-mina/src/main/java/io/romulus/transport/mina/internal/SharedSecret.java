package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import io.romulus.support.secret.SecretFile;

/** The pre-shared secret of the stream and the HMAC-SHA256 challenge-response built on it. */
public final class SharedSecret {

    private static final byte[] BACKUP_LABEL = "romulus-backup".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] PRIMARY_LABEL = "romulus-primary".getBytes(StandardCharsets.US_ASCII);
    static final SecureRandom RANDOM = new SecureRandom();

    private final SecretKeySpec key;

    private SharedSecret(byte[] secret) {
        this.key = new SecretKeySpec(secret, "HmacSHA256");
    }

    /** For tests. */
    public static SharedSecret of(byte[] secret) {
        return new SharedSecret(secret.clone());
    }

    /**
     * Loads the base64 secret from {@code file}; if the file does not exist, writes 32 random bytes to it (mode 600)
     * and says so at INFO ({@link SecretFile}, shared with the failure detector).
     */
    public static SharedSecret loadOrCreate(Path file) throws IOException {
        return new SharedSecret(SecretFile.loadOrCreate(file));
    }

    /** A fresh random nonce. */
    public static byte[] nonce() {
        byte[] n = new byte[Messages.NONCE_BYTES];
        RANDOM.nextBytes(n);
        return n;
    }

    /** What the backup sends to prove the secret. */
    public byte[] backupProof(byte[] clientHelloBody, byte[] backupNonce) {
        return hmac(BACKUP_LABEL, clientHelloBody, backupNonce);
    }

    /** What the primary sends to prove the secret. */
    public byte[] primaryProof(byte[] backupNonce, byte[] clientHelloBody) {
        return hmac(PRIMARY_LABEL, backupNonce, clientHelloBody);
    }

    /** The secret itself, for {@link StreamKeys}. */
    byte[] material() {
        return key.getEncoded();
    }

    /** Constant-time comparison. */
    public static boolean matches(byte[] expected, byte[] actual) {
        return MessageDigest.isEqual(expected, actual);
    }

    private byte[] hmac(byte[]... parts) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key);
            for (byte[] p : parts) {
                mac.update(p);
            }
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }
}
