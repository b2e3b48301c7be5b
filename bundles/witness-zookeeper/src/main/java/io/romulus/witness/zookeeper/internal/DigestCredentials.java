package io.romulus.witness.zookeeper.internal;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Set;

import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The identity the witness has in ZooKeeper: a user and password of ZooKeeper's {@code digest} scheme, the same on
 * every node of a cluster. The session authenticates with it ({@code addAuthInfo("digest", "user:password")}), and
 * the namespace, {@code /leases} and every lease znode carry {@link #acl()}: this identity may do everything, anyone
 * else may only read.
 *
 * @param user     the user name (no {@code :})
 * @param password the password
 */
public record DigestCredentials(String user, String password) {

    private static final Logger LOG = LoggerFactory.getLogger(DigestCredentials.class);

    public DigestCredentials {
        if (user == null || user.isBlank() || user.contains(":") || !user.strip().equals(user)) {
            throw new IllegalArgumentException("auth.user must be a user name without ':' or spaces around it, not '"
                    + user + "'");
        }
        if (password == null || password.isEmpty()) {
            throw new IllegalArgumentException("the password of ZooKeeper user " + user + " must not be empty");
        }
    }

    /**
     * The credentials of {@code user} whose password is the first line of {@code passwordFile}; a relative path is
     * taken from {@code base} (Karaf's home). Warns when others than the file's owner may read it.
     */
    static DigestCredentials read(String user, String passwordFile, Path base) {
        Path file = base.resolve(passwordFile);
        String content;
        try {
            content = Files.readString(file, UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read auth.password.file " + file + " (the password of ZooKeeper "
                    + "user " + user + "): " + e, e);
        }
        int end = content.indexOf('\n');
        String password = end < 0 ? content : content.substring(0, end);
        if (password.endsWith("\r")) {
            password = password.substring(0, password.length() - 1);
        }
        if (password.isEmpty()) {
            throw new IllegalArgumentException("auth.password.file " + file + " is empty: its first line is the "
                    + "password of ZooKeeper user " + user);
        }
        try {
            Set<PosixFilePermission> p = Files.getPosixFilePermissions(file);
            if (p.contains(PosixFilePermission.GROUP_READ) || p.contains(PosixFilePermission.OTHERS_READ)) {
                LOG.warn("auth.password.file {} can be read by other users than its owner: chmod 600 it", file);
            }
        } catch (IOException | UnsupportedOperationException e) {
            LOG.debug("cannot check the permissions of {}", file, e);
        }
        return new DigestCredentials(user, password);
    }

    /** What {@code addAuthInfo("digest", ...)} takes: {@code user:password}. */
    byte[] authInfo() {
        return (user + ":" + password).getBytes(UTF_8);
    }

    /**
     * The id of this identity in a {@code digest} ACL, {@code user:base64(sha1(user:password))}, as ZooKeeper's
     * {@code DigestAuthenticationProvider.generateDigest} makes it with its default algorithm (SHA-1).
     */
    String digestId() {
        try {
            byte[] sha1 = MessageDigest.getInstance("SHA-1").digest(authInfo());
            return user + ":" + Base64.getEncoder().encodeToString(sha1);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-1", e);
        }
    }

    /** The ACL of the witness's znodes: this identity may do everything, anyone else may only read. */
    List<ACL> acl() {
        // not List.of: ZooKeeper asks the list whether it contains null, which List.of answers with an exception
        return Collections.unmodifiableList(Arrays.asList(new ACL(ZooDefs.Perms.ALL, new Id("digest", digestId())),
                new ACL(ZooDefs.Perms.READ, new Id("world", "anyone"))));
    }

    /**
     * Whether {@code acl} protects a znode as {@link #acl()} does: this identity may do everything, and no other
     * entry allows more than reading.
     */
    boolean protects(List<ACL> acl) {
        boolean ours = false;
        for (ACL a : acl) {
            if (a.getId().getScheme().equals("digest") && a.getId().getId().equals(digestId())) {
                ours |= a.getPerms() == ZooDefs.Perms.ALL;
            } else if ((a.getPerms() & ~ZooDefs.Perms.READ) != 0) {
                return false;
            }
        }
        return ours;
    }

    /** Without the password. */
    @Override
    public String toString() {
        return "digest user " + user;
    }
}
