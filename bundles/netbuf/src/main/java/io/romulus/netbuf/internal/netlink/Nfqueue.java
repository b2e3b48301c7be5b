package io.romulus.netbuf.internal.netlink;

/**
 * The NFQUEUE protocol over {@code NETLINK_NETFILTER}: constants and message layouts from
 * include/uapi/linux/netfilter/nfnetlink.h, include/uapi/linux/netfilter/nfnetlink_queue.h and
 * include/uapi/linux/netfilter.h.
 *
 * <p>Byte order: the {@code nlmsghdr} and {@code nlattr} headers are host order; {@code nfgenmsg.res_id} (the queue
 * number) and every NFQA payload field the header declares {@code __be16}/{@code __be32} are big-endian, as are
 * the {@code __u32} attributes the kernel reads with {@code nla_get_be32} (NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK,
 * NFQA_CFG_FLAGS, NFQA_CAP_LEN).
 */
public final class Nfqueue {

    // nfnetlink.h
    public static final int NFNETLINK_V0 = 0;
    public static final int NFNL_SUBSYS_QUEUE = 3;
    /** struct nfgenmsg { __u8 nfgen_family; __u8 version; __be16 res_id; } */
    public static final int NFGENMSG_SIZE = 4;

    // nfnetlink_queue.h: enum nfqnl_msg_types
    public static final int NFQNL_MSG_PACKET = 0;
    public static final int NFQNL_MSG_VERDICT = 1;
    public static final int NFQNL_MSG_CONFIG = 2;
    public static final int NFQNL_MSG_VERDICT_BATCH = 3;

    // enum nfqnl_attr_type
    public static final int NFQA_PACKET_HDR = 1;
    public static final int NFQA_VERDICT_HDR = 2;
    public static final int NFQA_MARK = 3;
    public static final int NFQA_TIMESTAMP = 4;
    public static final int NFQA_IFINDEX_INDEV = 5;
    public static final int NFQA_IFINDEX_OUTDEV = 6;
    public static final int NFQA_IFINDEX_PHYSINDEV = 7;
    public static final int NFQA_IFINDEX_PHYSOUTDEV = 8;
    public static final int NFQA_HWADDR = 9;
    public static final int NFQA_PAYLOAD = 10;
    public static final int NFQA_CT = 11;
    public static final int NFQA_CT_INFO = 12;
    public static final int NFQA_CAP_LEN = 13;
    public static final int NFQA_SKB_INFO = 14;
    /** The highest NFQA type this code indexes (newer kernels add more; they are skipped). */
    public static final int NFQA_MAX_KNOWN = 20;

    /** struct nfqnl_msg_packet_hdr { __be32 packet_id; __be16 hw_protocol; __u8 hook; } __packed */
    public static final int PACKET_HDR_SIZE = 7;
    /** struct nfqnl_msg_verdict_hdr { __be32 verdict; __be32 id; } */
    public static final int VERDICT_HDR_SIZE = 8;

    // enum nfqnl_msg_config_cmds
    public static final int NFQNL_CFG_CMD_NONE = 0;
    public static final int NFQNL_CFG_CMD_BIND = 1;
    public static final int NFQNL_CFG_CMD_UNBIND = 2;
    public static final int NFQNL_CFG_CMD_PF_BIND = 3;
    public static final int NFQNL_CFG_CMD_PF_UNBIND = 4;
    /** struct nfqnl_msg_config_cmd { __u8 command; __u8 _pad; __be16 pf; } */
    public static final int CONFIG_CMD_SIZE = 4;

    // enum nfqnl_config_mode
    public static final int NFQNL_COPY_NONE = 0;
    public static final int NFQNL_COPY_META = 1;
    public static final int NFQNL_COPY_PACKET = 2;
    /** struct nfqnl_msg_config_params { __be32 copy_range; __u8 copy_mode; } __packed */
    public static final int CONFIG_PARAMS_SIZE = 5;

    // enum nfqnl_attr_config
    public static final int NFQA_CFG_CMD = 1;
    public static final int NFQA_CFG_PARAMS = 2;
    public static final int NFQA_CFG_QUEUE_MAXLEN = 3;
    public static final int NFQA_CFG_MASK = 4;
    public static final int NFQA_CFG_FLAGS = 5;

    // NFQA_CFG_FLAGS
    public static final int NFQA_CFG_F_FAIL_OPEN = 1 << 0;
    public static final int NFQA_CFG_F_CONNTRACK = 1 << 1;
    public static final int NFQA_CFG_F_GSO = 1 << 2;

    // netfilter.h: verdicts
    public static final int NF_DROP = 0;
    public static final int NF_ACCEPT = 1;

    /** net/netfilter/nfnetlink_queue.c: NFQNL_MAX_COPY_RANGE = 0xffff - NLA_HDRLEN. */
    public static final int MAX_COPY_RANGE = 0xffff - Netlink.NLA_HDRLEN;

    private Nfqueue() {
    }

    /** {@code nfnl_msg_type(NFNL_SUBSYS_QUEUE, msg)}: the subsystem in the high byte. */
    public static int messageType(int msg) {
        return (NFNL_SUBSYS_QUEUE << 8) | msg;
    }

    /** Writes a {@code struct nfgenmsg}. */
    public static NetlinkMessageWriter nfgenmsg(NetlinkMessageWriter w, int family, int resId) {
        return w.u8(family).u8(NFNETLINK_V0).be16(resId);
    }

    /** NFQNL_MSG_CONFIG with NFQA_CFG_CMD {@code command} for {@code queue}; asks for an ack. */
    public static void configCommand(NetlinkMessageWriter w, int seq, int queue, int command) {
        w.begin(messageType(NFQNL_MSG_CONFIG), Netlink.NLM_F_REQUEST | Netlink.NLM_F_ACK, seq);
        nfgenmsg(w, Netlink.AF_UNSPEC, queue);
        int at = w.open(NFQA_CFG_CMD);
        w.u8(command).u8(0).be16(Netlink.AF_UNSPEC).close(at);
        w.end();
    }

    /**
     * NFQNL_MSG_CONFIG for {@code queue}: copy mode and range (NFQA_CFG_PARAMS), queue length (NFQA_CFG_QUEUE_MAXLEN)
     * and the flags in {@code mask} set to {@code flags} (NFQA_CFG_MASK, NFQA_CFG_FLAGS); asks for an ack.
     */
    public static void configParams(NetlinkMessageWriter w, int seq, int queue, int copyMode, int copyRange,
            int maxLen, int mask, int flags) {
        w.begin(messageType(NFQNL_MSG_CONFIG), Netlink.NLM_F_REQUEST | Netlink.NLM_F_ACK, seq);
        nfgenmsg(w, Netlink.AF_UNSPEC, queue);
        int at = w.open(NFQA_CFG_PARAMS);
        w.be32(copyRange).u8(copyMode).close(at);
        w.attrBe32(NFQA_CFG_QUEUE_MAXLEN, maxLen);
        w.attrBe32(NFQA_CFG_MASK, mask);
        w.attrBe32(NFQA_CFG_FLAGS, flags);
        w.end();
    }

    /**
     * NFQNL_MSG_VERDICT_BATCH: {@code verdict} for every packet of {@code queue} whose id is not after {@code id}, in
     * queue order. No ack is asked for; a failure still comes back as an NLMSG_ERROR.
     */
    public static void verdictBatch(NetlinkMessageWriter w, int seq, int queue, int verdict, int id) {
        verdictMessage(w, seq, queue, NFQNL_MSG_VERDICT_BATCH, verdict, id);
    }

    /** NFQNL_MSG_VERDICT: {@code verdict} for the one packet {@code id}. */
    public static void verdict(NetlinkMessageWriter w, int seq, int queue, int verdict, int id) {
        verdictMessage(w, seq, queue, NFQNL_MSG_VERDICT, verdict, id);
    }

    private static void verdictMessage(NetlinkMessageWriter w, int seq, int queue, int msg, int verdict, int id) {
        w.begin(messageType(msg), Netlink.NLM_F_REQUEST, seq);
        nfgenmsg(w, Netlink.AF_UNSPEC, queue);
        int at = w.open(NFQA_VERDICT_HDR);
        w.be32(verdict).be32(id).close(at);
        w.end();
    }

    /** Whether the current message is an NFQNL_MSG_PACKET. */
    public static boolean isPacket(NetlinkMessageReader m) {
        return m.type() == messageType(NFQNL_MSG_PACKET);
    }

    /** The queue number ({@code nfgenmsg.res_id}) of the current message. */
    public static int queueOf(NetlinkMessageReader m) {
        return NetlinkAttributes.readBe16(m.buffer(), m.payloadOffset() + 2);
    }

    /** Indexes the NFQA attributes of the current message (after its {@code nfgenmsg}). */
    public static NetlinkAttributes attributes(NetlinkMessageReader m, NetlinkAttributes into)
            throws NetlinkException {
        int from = m.payloadOffset() + Netlink.msgAlign(NFGENMSG_SIZE);
        if (from > m.end()) {
            throw new NetlinkException("recv", 0, "NFQUEUE message of " + m.length() + " bytes has no nfgenmsg");
        }
        return into.parse(m.buffer(), from, m.end());
    }

    /** {@code nfqnl_msg_packet_hdr.packet_id} of a packet message. */
    public static int packetId(NetlinkAttributes a) throws NetlinkException {
        if (!a.has(NFQA_PACKET_HDR) || a.length(NFQA_PACKET_HDR) < PACKET_HDR_SIZE) {
            throw new NetlinkException("recv", 0, "NFQUEUE packet message without NFQA_PACKET_HDR");
        }
        return a.be32(NFQA_PACKET_HDR);
    }

    /** {@code nfqnl_msg_packet_hdr.hw_protocol} (an ETH_P_* value). */
    public static int hwProtocol(NetlinkAttributes a) {
        return NetlinkAttributes.readBe16(a.buffer(), a.offset(NFQA_PACKET_HDR) + 4);
    }

    /** {@code nfqnl_msg_packet_hdr.hook} (NF_INET_*). */
    public static int hook(NetlinkAttributes a) {
        return a.buffer().get(a.offset(NFQA_PACKET_HDR) + 6) & 0xff;
    }

    /**
     * The packet's length: NFQA_CAP_LEN where the kernel copied less than the packet, else the copied payload's
     * length; 0 in NFQNL_COPY_META mode (no payload, no length).
     */
    public static int packetLength(NetlinkAttributes a) throws NetlinkException {
        if (a.has(NFQA_CAP_LEN)) {
            return a.be32(NFQA_CAP_LEN);
        }
        return a.has(NFQA_PAYLOAD) ? a.length(NFQA_PAYLOAD) : 0;
    }
}
