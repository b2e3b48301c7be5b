package io.romulus.witness.zookeeper.internal;

import java.nio.charset.StandardCharsets;

/**
 * Znode names of domain leases. A domain name becomes one path component: letters, digits, {@code _} and {@code -}
 * stay, every other byte of its UTF-8 form becomes {@code %XX} (so {@code /}, {@code .} and {@code %} itself cannot
 * make another path or collide with another domain's name).
 */
final class LeaseNames {

    /** The parent of all leases, relative to the namespace. */
    static final String LEASES = "/leases";

    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    private LeaseNames() {
    }

    /** The lease znode of {@code domain}, relative to the namespace: {@code /leases/<domain, escaped>}. */
    static String path(String domain) {
        return LEASES + "/" + escape(domain);
    }

    static String escape(String domain) {
        if (domain == null || domain.isEmpty()) {
            throw new IllegalArgumentException("a domain name must not be empty");
        }
        StringBuilder out = new StringBuilder(domain.length() + 8);
        for (byte b : domain.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-') {
                out.append((char) c);
            } else {
                out.append('%').append(HEX[c >> 4]).append(HEX[c & 0xf]);
            }
        }
        return out.toString();
    }
}
