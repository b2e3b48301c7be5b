package io.romulus.support.secret;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The nodes' pre-shared secret file ({@code auth.secret.file} of the stream and of the failure detector): base64 text
 * of at least 16 bytes. Whichever component of a node starts first creates it; the file appears whole (written under
 * another name, then linked), so a component starting at the same time never reads a half-written secret.
 */
public final class SecretFile {

    /** Bytes of a new secret. */
    public static final int NEW_SECRET_BYTES = 32;
    /** The fewest bytes a secret may have. */
    public static final int MIN_SECRET_BYTES = 16;

    /** Where Karaf's configuration files are, in a configured path. */
    public static final String KARAF_ETC = "${karaf.etc}";

    private static final Logger LOG = LoggerFactory.getLogger(SecretFile.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private SecretFile() {
    }

    /**
     * The secret in {@code file}; if the file does not exist, 32 random bytes are written to it (mode 600) and this
     * is said at INFO.
     */
    public static byte[] loadOrCreate(Path file) throws IOException {
        if (!Files.exists(file)) {
            create(file);
        }
        String text = Files.readString(file, StandardCharsets.US_ASCII).trim();
        byte[] secret;
        try {
            secret = Base64.getDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            throw new IOException("auth.secret.file " + file + " does not hold base64 text: " + e.getMessage(), e);
        }
        if (secret.length < MIN_SECRET_BYTES) {
            throw new IOException("auth.secret.file " + file + " holds " + secret.length
                    + " bytes; at least " + MIN_SECRET_BYTES + " are needed");
        }
        return secret;
    }

    /**
     * A configured path with {@code ${karaf.etc}} replaced by that system property.
     *
     * @throws IOException if the path names {@code ${karaf.etc}} and the property is not set
     */
    public static Path resolve(String configured) throws IOException {
        String value = configured.strip();
        if (value.contains(KARAF_ETC)) {
            String etc = System.getProperty("karaf.etc");
            if (etc == null) {
                throw new IOException("auth.secret.file is " + value + " but the system property karaf.etc is not "
                        + "set; configure an absolute path");
            }
            value = value.replace(KARAF_ETC, etc);
        }
        return Path.of(value);
    }

    private static void create(Path file) throws IOException {
        byte[] secret = new byte[NEW_SECRET_BYTES];
        RANDOM.nextBytes(secret);
        byte[] text = (Base64.getEncoder().encodeToString(secret) + "\n").getBytes(StandardCharsets.US_ASCII);
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temporary;
        try {
            temporary = Files.createTempFile(parent, ".secret", ".new",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException e) {
            temporary = Files.createTempFile(parent, ".secret", ".new");
        }
        try {
            Files.write(temporary, text);
            Files.createLink(file, temporary);
            LOG.info("Generated a new pre-shared secret (checkpoint stream and heartbeats) in {}; the peer node needs a copy of the same file "
                    + "(same path, mode 600) before it can connect", file.toAbsolutePath());
        } catch (FileAlreadyExistsException e) {
            LOG.debug("{} was created concurrently; using it", file);
        } finally {
            Files.deleteIfExists(temporary);
        }
    }
}
