package io.romulus.netbuf.internal.netlink;

/**
 * Traffic-control messages over {@code NETLINK_ROUTE}, for the plug qdisc: constants and layouts from
 * include/uapi/linux/rtnetlink.h and include/uapi/linux/pkt_sched.h. All fields are host order; {@code rtattr} has
 * the layout of {@code nlattr} and the same 4-byte alignment (RTA_ALIGN).
 */
public final class Rtnetlink {

    // rtnetlink.h
    public static final int RTM_NEWQDISC = 36;
    public static final int RTM_DELQDISC = 37;
    public static final int RTM_GETQDISC = 38;
    /** enum TCA_*: TCA_KIND (string), TCA_OPTIONS (qdisc-specific) */
    public static final int TCA_KIND = 1;
    public static final int TCA_OPTIONS = 2;
    /**
     * struct tcmsg { unsigned char tcm_family; unsigned char tcm__pad1; unsigned short tcm__pad2; int tcm_ifindex;
     * __u32 tcm_handle; __u32 tcm_parent; __u32 tcm_info; }
     */
    public static final int TCMSG_SIZE = 20;

    // pkt_sched.h
    public static final int TC_H_ROOT = 0xFFFFFFFF;
    public static final int TC_H_INGRESS = 0xFFFFFFF1;
    public static final int TCQ_PLUG_BUFFER = 0;
    public static final int TCQ_PLUG_RELEASE_ONE = 1;
    public static final int TCQ_PLUG_RELEASE_INDEFINITE = 2;
    public static final int TCQ_PLUG_LIMIT = 3;
    /** struct tc_plug_qopt { int action; __u32 limit; } */
    public static final int TC_PLUG_QOPT_SIZE = 8;

    private Rtnetlink() {
    }

    /** Writes a {@code struct tcmsg}. */
    public static NetlinkMessageWriter tcmsg(NetlinkMessageWriter w, int family, int ifindex, int handle, int parent,
            int info) {
        return w.u8(family).u8(0).u16(0).u32(ifindex).u32(handle).u32(parent).u32(info);
    }

    /** Writes a {@code struct tc_plug_qopt}. */
    public static NetlinkMessageWriter plugQopt(NetlinkMessageWriter w, int action, int limit) {
        return w.u32(action).u32(limit);
    }

    /**
     * RTM_NEWQDISC for a plug qdisc on {@code ifindex}: TCA_KIND "plug" and TCA_OPTIONS {@code tc_plug_qopt}.
     * {@code extraFlags}: NLM_F_CREATE | NLM_F_EXCL to add, 0 to change an existing one. Asks for an ack.
     */
    public static void plugQdisc(NetlinkMessageWriter w, int seq, int extraFlags, int ifindex, int handle, int parent,
            int action, int limit) {
        w.begin(RTM_NEWQDISC, Netlink.NLM_F_REQUEST | Netlink.NLM_F_ACK | extraFlags, seq);
        tcmsg(w, Netlink.AF_UNSPEC, ifindex, handle, parent, 0);
        w.attrString(TCA_KIND, "plug");
        int at = w.open(TCA_OPTIONS);
        plugQopt(w, action, limit).close(at);
        w.end();
    }
}
