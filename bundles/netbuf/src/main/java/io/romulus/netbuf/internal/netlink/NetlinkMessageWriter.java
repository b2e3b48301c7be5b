package io.romulus.netbuf.internal.netlink;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Writes netlink messages into a buffer: the {@code nlmsghdr} (host byte order), a family header written field by
 * field, then attributes ({@code nlattr}, or {@code rtattr}, which has the same layout), each padded to
 * {@link Netlink#attrAlign NLA_ALIGN}. Big-endian helpers are for the fields the headers declare {@code __be16} /
 * {@code __be32}.
 *
 * <pre>
 * int len = w.begin(type, flags, seq).u8(family).u8(0).be16(resId).attrBe32(TYPE, v).end();
 * </pre>
 *
 * Several messages can be written one after another (a batch); each {@link #end()} returns the total length so far.
 */
public final class NetlinkMessageWriter {

    private final ByteBuffer buf;
    private int start = -1;

    /** Writes from position 0 of {@code target}; the buffer's order is set to the host's. */
    public NetlinkMessageWriter(ByteBuffer target) {
        this.buf = target.order(ByteOrder.nativeOrder());
        buf.clear();
    }

    /** Forgets everything written. */
    public NetlinkMessageWriter reset() {
        buf.clear();
        start = -1;
        return this;
    }

    /** Starts a message; the port id is 0 (the kernel fills in the sender's). */
    public NetlinkMessageWriter begin(int type, int flags, int seq) {
        if (start >= 0) {
            throw new IllegalStateException("message not ended");
        }
        start = buf.position();
        buf.putInt(0);
        buf.putShort((short) type);
        buf.putShort((short) flags);
        buf.putInt(seq);
        buf.putInt(0);
        return this;
    }

    /** Ends the message: sets {@code nlmsg_len}, pads to NLMSG_ALIGN, returns the bytes written in total. */
    public int end() {
        if (start < 0) {
            throw new IllegalStateException("no message begun");
        }
        int len = buf.position() - start;
        buf.putInt(start, len);
        pad();
        start = -1;
        return buf.position();
    }

    /** Bytes written so far. */
    public int length() {
        return buf.position();
    }

    /** The buffer written into (position = {@link #length()}). */
    public ByteBuffer buffer() {
        return buf;
    }

    // ---- raw struct fields ----

    public NetlinkMessageWriter u8(int v) {
        buf.put((byte) v);
        return this;
    }

    /** A host-order 16-bit field. */
    public NetlinkMessageWriter u16(int v) {
        buf.putShort((short) v);
        return this;
    }

    /** A host-order 32-bit field. */
    public NetlinkMessageWriter u32(int v) {
        buf.putInt(v);
        return this;
    }

    /** A big-endian ({@code __be16}) field. */
    public NetlinkMessageWriter be16(int v) {
        buf.put((byte) (v >>> 8)).put((byte) v);
        return this;
    }

    /** A big-endian ({@code __be32}) field. */
    public NetlinkMessageWriter be32(int v) {
        buf.put((byte) (v >>> 24)).put((byte) (v >>> 16)).put((byte) (v >>> 8)).put((byte) v);
        return this;
    }

    public NetlinkMessageWriter bytes(byte[] v) {
        buf.put(v);
        return this;
    }

    // ---- attributes ----

    /** Opens an attribute whose payload the caller writes with the raw field methods; close it with {@link #close}. */
    public int open(int type) {
        int at = buf.position();
        buf.putShort((short) 0);
        buf.putShort((short) type);
        return at;
    }

    /** Closes an attribute opened with {@link #open} (also a nested one): sets its length and pads. */
    public NetlinkMessageWriter close(int openedAt) {
        buf.putShort(openedAt, (short) (buf.position() - openedAt));
        pad();
        return this;
    }

    /** Opens a nested attribute ({@code NLA_F_NESTED} set). */
    public int openNested(int type) {
        return open(type | Netlink.NLA_F_NESTED);
    }

    public NetlinkMessageWriter attr(int type, byte[] payload) {
        int at = open(type);
        buf.put(payload);
        return close(at);
    }

    public NetlinkMessageWriter attrU8(int type, int v) {
        int at = open(type);
        return u8(v).close(at);
    }

    public NetlinkMessageWriter attrU32(int type, int v) {
        int at = open(type);
        return u32(v).close(at);
    }

    public NetlinkMessageWriter attrBe16(int type, int v) {
        int at = open(type);
        return be16(v).close(at);
    }

    public NetlinkMessageWriter attrBe32(int type, int v) {
        int at = open(type);
        return be32(v).close(at);
    }

    /** A NUL-terminated string attribute (NLA_NUL_STRING / TCA_KIND style). */
    public NetlinkMessageWriter attrString(int type, String v) {
        int at = open(type);
        buf.put(v.getBytes(StandardCharsets.US_ASCII)).put((byte) 0);
        return close(at);
    }

    private void pad() {
        while ((buf.position() & (Netlink.NLA_ALIGNTO - 1)) != 0) {
            buf.put((byte) 0);
        }
    }
}
