package io.romulus.netbuf.internal.netlink;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The attributes of one message (or of one nested attribute), indexed by type ({@code nla_type & NLA_TYPE_MASK}).
 * Reusable: {@link #parse} forgets the previous message. Types above the capacity given at construction are skipped,
 * as the kernel's own parsers skip attributes they do not know.
 */
public final class NetlinkAttributes {

    private final int[] offsets;
    private final int[] lengths;
    private ByteBuffer buf;

    /** @param maxType the highest attribute type to index (e.g. NFQA_MAX) */
    public NetlinkAttributes(int maxType) {
        offsets = new int[maxType + 1];
        lengths = new int[maxType + 1];
        Arrays.fill(offsets, -1);
    }

    /** Indexes the attributes in {@code [from, to)} of {@code source}. */
    public NetlinkAttributes parse(ByteBuffer source, int from, int to) throws NetlinkException {
        this.buf = source.order(ByteOrder.nativeOrder());
        Arrays.fill(offsets, -1);
        int at = from;
        while (to - at >= Netlink.NLA_HDRLEN) {
            int len = buf.getShort(at) & 0xffff;
            int type = buf.getShort(at + 2) & Netlink.NLA_TYPE_MASK;
            if (len < Netlink.NLA_HDRLEN || len > to - at) {
                throw new NetlinkException("recv", 0, "malformed netlink attribute at offset " + at + ": length "
                        + len + ", " + (to - at) + " bytes left");
            }
            if (type < offsets.length) {
                offsets[type] = at + Netlink.NLA_HDRLEN;
                lengths[type] = len - Netlink.NLA_HDRLEN;
            }
            at += Netlink.attrAlign(len);
        }
        return this;
    }

    /** The buffer parsed last. */
    public ByteBuffer buffer() {
        return buf;
    }

    public boolean has(int type) {
        return type < offsets.length && offsets[type] >= 0;
    }

    /** Offset of the payload of attribute {@code type}. */
    public int offset(int type) {
        require(type);
        return offsets[type];
    }

    /** Payload length (without padding) of attribute {@code type}. */
    public int length(int type) {
        require(type);
        return lengths[type];
    }

    public int u8(int type) throws NetlinkException {
        return buf.get(offset(checkLength(type, 1))) & 0xff;
    }

    public int u32(int type) throws NetlinkException {
        return buf.getInt(offset(checkLength(type, 4)));
    }

    public int be16(int type) throws NetlinkException {
        int o = offset(checkLength(type, 2));
        return ((buf.get(o) & 0xff) << 8) | (buf.get(o + 1) & 0xff);
    }

    public int be32(int type) throws NetlinkException {
        return readBe32(buf, offset(checkLength(type, 4)));
    }

    /** A string attribute, without its terminating NUL if present. */
    public String string(int type) {
        int o = offset(type);
        int l = lengths[type];
        while (l > 0 && buf.get(o + l - 1) == 0) {
            l--;
        }
        byte[] b = new byte[l];
        buf.get(o, b);
        return new String(b, StandardCharsets.UTF_8);
    }

    public byte[] bytes(int type) {
        byte[] b = new byte[length(type)];
        buf.get(offset(type), b);
        return b;
    }

    /** Reads a {@code __be32} at an absolute offset. */
    public static int readBe32(ByteBuffer b, int o) {
        return ((b.get(o) & 0xff) << 24) | ((b.get(o + 1) & 0xff) << 16) | ((b.get(o + 2) & 0xff) << 8)
                | (b.get(o + 3) & 0xff);
    }

    /** Reads a {@code __be16} at an absolute offset. */
    public static int readBe16(ByteBuffer b, int o) {
        return ((b.get(o) & 0xff) << 8) | (b.get(o + 1) & 0xff);
    }

    private int checkLength(int type, int min) throws NetlinkException {
        if (length(type) < min) {
            throw new NetlinkException("recv", 0, "netlink attribute " + type + " has " + length(type)
                    + " bytes, expected " + min);
        }
        return type;
    }

    private void require(int type) {
        if (!has(type)) {
            throw new IllegalArgumentException("no attribute of type " + type);
        }
    }
}
