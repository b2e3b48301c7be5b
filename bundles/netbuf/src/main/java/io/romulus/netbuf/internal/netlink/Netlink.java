package io.romulus.netbuf.internal.netlink;

/** Constants of the netlink protocol itself: include/uapi/linux/netlink.h, plus the socket-level ones it needs. */
public final class Netlink {

    // include/linux/socket.h (AF_NETLINK = PF_NETLINK = 16), include/linux/net.h (SOCK_RAW = 3),
    // asm-generic/fcntl.h via linux/net.h (SOCK_CLOEXEC = O_CLOEXEC = 02000000 on x86-64 and arm64)
    public static final int AF_UNSPEC = 0;
    public static final int AF_INET = 2;
    public static final int AF_NETLINK = 16;
    public static final int SOCK_RAW = 3;
    public static final int SOCK_CLOEXEC = 02000000;

    // netlink.h: protocols
    public static final int NETLINK_ROUTE = 0;
    public static final int NETLINK_NETFILTER = 12;

    // netlink.h: struct nlmsghdr { __u32 nlmsg_len; __u16 nlmsg_type; __u16 nlmsg_flags; __u32 nlmsg_seq;
    // __u32 nlmsg_pid; }
    public static final int NLMSG_ALIGNTO = 4;
    public static final int NLMSG_HDRLEN = 16;

    // netlink.h: reserved control message types
    public static final int NLMSG_NOOP = 0x1;
    public static final int NLMSG_ERROR = 0x2;
    public static final int NLMSG_DONE = 0x3;
    public static final int NLMSG_OVERRUN = 0x4;
    public static final int NLMSG_MIN_TYPE = 0x10;

    // netlink.h: flags
    public static final int NLM_F_REQUEST = 0x01;
    public static final int NLM_F_MULTI = 0x02;
    public static final int NLM_F_ACK = 0x04;
    public static final int NLM_F_ECHO = 0x08;
    public static final int NLM_F_REPLACE = 0x100;
    public static final int NLM_F_EXCL = 0x200;
    public static final int NLM_F_CREATE = 0x400;
    /** On an NLMSG_ERROR: the original request was capped to its header. */
    public static final int NLM_F_CAPPED = 0x100;
    /** On an NLMSG_ERROR: extended-ack TLVs follow the (capped) original request. */
    public static final int NLM_F_ACK_TLVS = 0x200;

    // netlink.h: struct nlattr { __u16 nla_len; __u16 nla_type; }
    public static final int NLA_ALIGNTO = 4;
    public static final int NLA_HDRLEN = 4;
    public static final int NLA_F_NESTED = 1 << 15;
    public static final int NLA_F_NET_BYTEORDER = 1 << 14;
    public static final int NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

    // netlink.h: enum nlmsgerr_attrs
    public static final int NLMSGERR_ATTR_MSG = 1;
    public static final int NLMSGERR_ATTR_OFFS = 2;

    // socket options: SOL_NETLINK = 270 (include/linux/socket.h); netlink.h option names
    public static final int SOL_NETLINK = 270;
    public static final int NETLINK_NO_ENOBUFS = 5;
    public static final int NETLINK_CAP_ACK = 10;
    public static final int NETLINK_EXT_ACK = 11;

    // asm-generic/socket.h (same on x86-64): SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE, SO_RCVTIMEO (old, timeval)
    public static final int SOL_SOCKET = 1;
    public static final int SO_SNDBUF = 7;
    public static final int SO_RCVBUF = 8;
    public static final int SO_RCVTIMEO = 20;
    public static final int SO_RCVBUFFORCE = 33;

    /** struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; } */
    public static final int SOCKADDR_NL_SIZE = 12;

    private Netlink() {
    }

    /** NLMSG_ALIGN. */
    public static int msgAlign(int len) {
        return (len + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
    }

    /** NLA_ALIGN (and RTA_ALIGN: the same 4-byte alignment). */
    public static int attrAlign(int len) {
        return (len + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);
    }
}
