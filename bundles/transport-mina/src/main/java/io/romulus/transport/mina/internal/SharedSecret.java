package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The pre-shared secret of the stream and the HMAC-SHA256 challenge-response built on it. */
public final class SharedSecret {

    private static final Logger LOG = LoggerFactory.getLogger(SharedSecret.class);
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
     * and says so at INFO.
     */
    public static SharedSecret loadOrCreate(Path file) throws IOException {
        if (!Files.exists(file)) {
            byte[] secret = new byte[32];
            RANDOM.nextBytes(secret);
            byte[] text = (Base64.getEncoder().encodeToString(secret) + "\n").getBytes(StandardCharsets.US_ASCII);
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            try {
                try {
                    Files.createFile(file, PosixFilePermissions.asFileAttribute(
                            PosixFilePermissions.fromString("rw-------")));
                } catch (UnsupportedOperationException e) {
                    Files.createFile(file);
                }
                Files.write(file, text);
                LOG.info("Generated a new checkpoint stream secret in {}; the peer node needs a copy of the same file "
                        + "(same path, mode 600) before it can connect", file.toAbsolutePath());
            } catch (FileAlreadyExistsException e) {
                LOG.debug("{} was created concurrently; using it", file);
            }
        }
        String text = Files.readString(file, StandardCharsets.US_ASCII).trim();
        byte[] secret;
        try {
            secret = Base64.getDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            throw new IOException("auth.secret.file " + file + " does not hold base64 text: " + e.getMessage(), e);
        }
        if (secret.length < 16) {
            throw new IOException("auth.secret.file " + file + " holds " + secret.length
                    + " bytes; at least 16 are needed");
        }
        return new SharedSecret(secret);
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
