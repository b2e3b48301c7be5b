package io.romulus.xen.internal.image;

/** Hex literals for golden bytes: {@code hex("0a000000 28000000")}; anything but hex digits is ignored. */
final class Hex {

    private Hex() {
    }

    static byte[] hex(String s) {
        String h = s.replaceAll("[^0-9a-fA-F]", "");
        if (h.length() % 2 != 0) {
            throw new IllegalArgumentException("odd number of hex digits in " + s);
        }
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}
