package io.romulus.netbuf.internal.netlink;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Walks the netlink messages in a received buffer (NLMSG_OK / NLMSG_NEXT), without allocating: one reader is reset
 * per datagram and asked for the current message's header fields and payload bounds.
 */
public final class NetlinkMessageReader {

    private ByteBuffer buf;
    private int limit;
    private int next;
    private int at = -1;
    private int len;

    /** Starts over on the first {@code length} bytes of {@code received} (read in host byte order). */
    public NetlinkMessageReader reset(ByteBuffer received, int length) {
        this.buf = received.order(ByteOrder.nativeOrder());
        this.limit = length;
        this.next = 0;
        this.at = -1;
        return this;
    }

    /** Moves to the next message; false when none is left. */
    public boolean next() throws NetlinkException {
        if (limit - next < Netlink.NLMSG_HDRLEN) {
            return false;
        }
        int l = buf.getInt(next);
        if (l < Netlink.NLMSG_HDRLEN || l > limit - next) {
            throw malformed("message at offset " + next + " claims " + l + " bytes, " + (limit - next) + " left");
        }
        at = next;
        len = l;
        next = at + Netlink.msgAlign(l);
        return true;
    }

    private static NetlinkException malformed(String what) {
        return new NetlinkException("recv", 0, "malformed netlink datagram: " + what);
    }

    public ByteBuffer buffer() {
        return buf;
    }

    /** Offset of the current message's {@code nlmsghdr}. */
    public int offset() {
        return at;
    }

    /** {@code nlmsg_len}. */
    public int length() {
        return len;
    }

    public int type() {
        return buf.getShort(at + 4) & 0xffff;
    }

    public int flags() {
        return buf.getShort(at + 6) & 0xffff;
    }

    public int seq() {
        return buf.getInt(at + 8);
    }

    public int portId() {
        return buf.getInt(at + 12);
    }

    /** Offset of NLMSG_DATA. */
    public int payloadOffset() {
        return at + Netlink.NLMSG_HDRLEN;
    }

    /** Offset one past the message's last byte. */
    public int end() {
        return at + len;
    }

    /** Whether this is an NLMSG_ERROR (an ack when its error is 0). */
    public boolean isError() {
        return type() == Netlink.NLMSG_ERROR;
    }

    /** For an NLMSG_ERROR: the positive errno, 0 for an ack. */
    public int errorCode() throws NetlinkException {
        if (len < Netlink.NLMSG_HDRLEN + 4) {
            throw malformed("NLMSG_ERROR of " + len + " bytes");
        }
        return -buf.getInt(payloadOffset());
    }

    /** For an NLMSG_ERROR: the sequence number of the request it answers. */
    public int errorRequestSeq() throws NetlinkException {
        if (len < Netlink.NLMSG_HDRLEN + 4 + Netlink.NLMSG_HDRLEN) {
            throw malformed("NLMSG_ERROR of " + len + " bytes carries no request header");
        }
        return buf.getInt(payloadOffset() + 4 + 8);
    }

    /**
     * For an NLMSG_ERROR with {@code NLM_F_ACK_TLVS}: the kernel's extended-ack message
     * ({@code NLMSGERR_ATTR_MSG}), or null.
     */
    public String errorMessage(NetlinkAttributes scratch) throws NetlinkException {
        if ((flags() & Netlink.NLM_F_ACK_TLVS) == 0) {
            return null;
        }
        int request = payloadOffset() + 4;
        int requestLen = (flags() & Netlink.NLM_F_CAPPED) != 0 ? Netlink.NLMSG_HDRLEN : buf.getInt(request);
        int tlvs = request + Netlink.msgAlign(requestLen);
        if (tlvs >= end()) {
            return null;
        }
        scratch.parse(buf, tlvs, end());
        return scratch.has(Netlink.NLMSGERR_ATTR_MSG) ? scratch.string(Netlink.NLMSGERR_ATTR_MSG) : null;
    }
}
