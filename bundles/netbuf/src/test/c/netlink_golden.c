/*
 * Prints the golden bytes of the netlink messages io.romulus.netbuf lays out or reads by hand, built here with the
 * structs and constants of the installed kernel headers (Debian linux-libc-dev): <linux/netlink.h>,
 * <linux/rtnetlink.h>, <linux/pkt_sched.h>, <linux/netfilter.h>, <linux/netfilter/nfnetlink.h> and
 * <linux/netfilter/nfnetlink_queue.h>. Every sample fills the kernel's own structs field by field and places
 * attributes with NLMSG_ALIGN/NLA_ALIGN, so the bytes are what the headers say, not what a test author thought.
 *
 * NetlinkLayoutTest and PlugMessageTest compile and run this program at test time and compare the Java writers'
 * bytes with its output (and parse the kernel-built messages it prints).
 *
 * Output, one line per sample:   <label> <hex of every byte, in memory order>
 *
 * gcc -std=gnu11 -Wall -Wextra -Werror -o netlink_golden netlink_golden.c && ./netlink_golden
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/pkt_sched.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

static unsigned char buf[4096];
static size_t len;

static void reset(void)
{
    memset(buf, 0, sizeof buf);
    len = 0;
}

static void put(const void *data, size_t n)
{
    memcpy(buf + len, data, n);
    len += NLMSG_ALIGN(n);
}

static struct nlmsghdr *begin(uint16_t type, uint16_t flags, uint32_t seq)
{
    struct nlmsghdr *h = (struct nlmsghdr *) (buf + len);
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    h->nlmsg_seq = seq;
    h->nlmsg_pid = 0;
    len += NLMSG_HDRLEN;
    return h;
}

static void end(struct nlmsghdr *h)
{
    h->nlmsg_len = (uint32_t) (buf + len - (unsigned char *) h);
}

static void attr(uint16_t type, const void *data, size_t n)
{
    struct nlattr *a = (struct nlattr *) (buf + len);
    a->nla_type = type;
    a->nla_len = (uint16_t) (NLA_HDRLEN + n);
    memcpy(buf + len + NLA_HDRLEN, data, n);
    len += NLA_ALIGN(a->nla_len);
}

static void attr_be32(uint16_t type, uint32_t value)
{
    uint32_t be = htonl(value);
    attr(type, &be, sizeof be);
}

static void nfgenmsg(uint8_t family, uint16_t queue)
{
    struct nfgenmsg g = { .nfgen_family = family, .version = NFNETLINK_V0, .res_id = htons(queue) };
    put(&g, sizeof g);
}

static void dump(const char *label)
{
    size_t i;

    printf("%s ", label);
    for ( i = 0; i < len; i++ )
        printf("%02x", buf[i]);
    printf("\n");
}

/* NFQNL_MSG_CONFIG with NFQA_CFG_CMD, as Nfqueue.configCommand writes it */
static void config_command(uint32_t seq, uint16_t queue, uint8_t command)
{
    struct nlmsghdr *h = begin(NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq);
    struct nfqnl_msg_config_cmd cmd = { .command = command, ._pad = 0, .pf = htons(0) };
    nfgenmsg(AF_UNSPEC, queue);
    attr(NFQA_CFG_CMD, &cmd, sizeof cmd);
    end(h);
}

/* NFQNL_MSG_VERDICT_BATCH (or _VERDICT) with NFQA_VERDICT_HDR, REQUEST only */
static void verdict(uint16_t msg, uint32_t seq, uint16_t queue, uint32_t verdict, uint32_t id)
{
    struct nlmsghdr *h = begin(NFNL_SUBSYS_QUEUE << 8 | msg, NLM_F_REQUEST, seq);
    struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(verdict), .id = htonl(id) };
    nfgenmsg(AF_UNSPEC, queue);
    attr(NFQA_VERDICT_HDR, &v, sizeof v);
    end(h);
}

/* an NFQNL_MSG_PACKET as the kernel builds it (nfqnl_build_packet_message) */
static struct nlmsghdr *packet(uint16_t queue, uint32_t id)
{
    struct nlmsghdr *h = begin(NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET, 0, 0);
    struct nfqnl_msg_packet_hdr p = { .packet_id = htonl(id), .hw_protocol = htons(ETH_P_IP),
                                      .hook = NF_INET_FORWARD };
    nfgenmsg(NFPROTO_IPV4, queue);
    attr(NFQA_PACKET_HDR, &p, sizeof p);
    return h;
}

/* RTM_NEWQDISC of a plug qdisc at the root, as Rtnetlink.plugQdisc and PlugDevices.plugMessage write it */
static void plug_qdisc(uint32_t seq, uint16_t flags, int ifindex, uint32_t handle, int action, uint32_t limit)
{
    struct nlmsghdr *h = begin(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
    struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_handle = handle,
                       .tcm_parent = TC_H_ROOT, .tcm_info = 0 };
    struct tc_plug_qopt q = { .action = action, .limit = limit };
    put(&t, sizeof t);
    attr(TCA_KIND, "plug", sizeof "plug");
    attr(TCA_OPTIONS, &q, sizeof q);
    end(h);
}

/* an NLMSG_ERROR answering the request at buf + 0 (already built); capped: only the request's header */
static void error_for(int error, uint16_t flags, int capped)
{
    unsigned char request[256];
    size_t request_len = len;
    struct nlmsghdr *h;
    memcpy(request, buf, request_len);
    reset();
    h = begin(NLMSG_ERROR, flags, ((struct nlmsghdr *) request)->nlmsg_seq);
    put(&error, sizeof error);
    if ( capped )
        put(request, NLMSG_HDRLEN);
    else
        put(request, request_len);
    if ( flags & NLM_F_ACK_TLVS ) {
        const char *msg = error == -EBUSY ? "busy" : "bad";
        attr(NLMSGERR_ATTR_MSG, msg, strlen(msg) + 1);
    }
    end(h);
}

static void samples(void)
{
    struct nlmsghdr *h;
    struct nlattr *nest;
    uint32_t u32;
    uint8_t u8;
    uint16_t be16;
    struct tc_plug_qopt q;
    static const unsigned char ip_header[8] = { 0x45, 0x00, 0x05, 0xdc, 0x00, 0x00, 0x40, 0x00 };
    static const unsigned char payload[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

    reset(); h = begin(0x1234, NLM_F_REQUEST | NLM_F_ACK, 0x01020304); end(h); dump("nlmsghdr");
    reset(); nfgenmsg(AF_INET, 0x1068); dump("nfgenmsg");
    reset(); config_command(1, 4200, NFQNL_CFG_CMD_BIND); dump("config_bind");
    reset(); config_command(2, 1, NFQNL_CFG_CMD_UNBIND); dump("config_unbind");

    reset();
    {
        struct nfqnl_msg_config_params p = { .copy_range = htonl(64), .copy_mode = NFQNL_COPY_PACKET };
        h = begin(NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, 2);
        nfgenmsg(AF_UNSPEC, 4200);
        attr(NFQA_CFG_PARAMS, &p, sizeof p);
        attr_be32(NFQA_CFG_QUEUE_MAXLEN, 16384);
        attr_be32(NFQA_CFG_MASK, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO);
        attr_be32(NFQA_CFG_FLAGS, NFQA_CFG_F_GSO);
        end(h);
    }
    dump("config_params");

    reset(); verdict(NFQNL_MSG_VERDICT_BATCH, 3, 4200, NF_ACCEPT, 0x01020304); dump("verdict_batch");
    reset(); verdict(NFQNL_MSG_VERDICT, 4, 7, NF_DROP, 42); dump("verdict_drop");
    reset();
    verdict(NFQNL_MSG_VERDICT_BATCH, 1, 1, NF_DROP, 5);
    verdict(NFQNL_MSG_VERDICT_BATCH, 2, 1, NF_ACCEPT, 9);
    dump("verdict_batch_two");

    reset();
    h = packet(4200, 42);
    attr_be32(NFQA_IFINDEX_INDEV, 3);
    attr_be32(NFQA_CAP_LEN, 1500);
    attr(NFQA_PAYLOAD, ip_header, sizeof ip_header);
    end(h);
    dump("packet");
    reset(); h = packet(1, 7); attr(NFQA_PAYLOAD, payload, sizeof payload); end(h); dump("packet_without_cap_len");
    reset(); h = packet(1, 0xfffffffe); end(h); dump("packet_id_unsigned");

    reset(); config_command(7, 4200, NFQNL_CFG_CMD_BIND); error_for(0, NLM_F_CAPPED, 1); dump("ack");
    reset(); config_command(8, 4200, NFQNL_CFG_CMD_BIND); error_for(-EBUSY, NLM_F_CAPPED | NLM_F_ACK_TLVS, 1);
    dump("error_capped");
    reset(); config_command(5, 4200, NFQNL_CFG_CMD_BIND); error_for(-EINVAL, NLM_F_ACK_TLVS, 0);
    dump("error_uncapped");
    /* a header whose nlmsg_len (255) runs past the 16 bytes received */
    reset(); h = begin(NLMSG_ERROR, 0, 0); h->nlmsg_len = 255; dump("malformed_length");

    reset(); plug_qdisc(9, 0, 5, 0x00010000, TCQ_PLUG_RELEASE_ONE, 0); dump("plug_qdisc");
    reset(); q.action = TCQ_PLUG_LIMIT; q.limit = 10000; put(&q, sizeof q); dump("plug_qopt_limit");

    /* PlugMessageTest: seq 0x0a0b0c0d, ifindex 7, limit 10000 */
    reset(); plug_qdisc(0x0a0b0c0d, 0, 7, TC_H_MAKE(1U << 16, 0), TCQ_PLUG_BUFFER, 10000); dump("plug_change_buffer");
    reset(); plug_qdisc(0x0a0b0c0d, 0, 7, TC_H_MAKE(1U << 16, 0), TCQ_PLUG_RELEASE_ONE, 10000);
    dump("plug_change_release_one");
    reset(); plug_qdisc(0x0a0b0c0d, 0, 7, TC_H_MAKE(1U << 16, 0), TCQ_PLUG_RELEASE_INDEFINITE, 10000);
    dump("plug_change_release_indefinite");
    reset(); plug_qdisc(0x0a0b0c0d, NLM_F_EXCL | NLM_F_CREATE, 7, TC_H_MAKE(1U << 16, 0), TCQ_PLUG_BUFFER, 10000);
    dump("plug_create_buffer");
    reset(); plug_qdisc(0x0a0b0c0d, NLM_F_REPLACE | NLM_F_CREATE, 7, TC_H_MAKE(2U << 16, 0), TCQ_PLUG_BUFFER, 10000);
    dump("plug_replace_buffer");

    /* a nested attribute (type 1) holding a u32 (type 2), a u8 (type 3) and a big-endian u16 (type 4) */
    reset();
    nest = (struct nlattr *) buf;
    nest->nla_type = NLA_F_NESTED | 1;
    len += NLA_HDRLEN;
    u32 = 7; attr(2, &u32, sizeof u32);
    u8 = 0xab; attr(3, &u8, sizeof u8);
    be16 = htons(0x0102); attr(4, &be16, sizeof be16);
    nest->nla_len = (uint16_t) len;
    dump("nested");
}

int main(void)
{
    samples();
    printf("const NLMSG_HDRLEN %d\n", (int) NLMSG_HDRLEN);
    printf("const NLA_HDRLEN %d\n", (int) NLA_HDRLEN);
    printf("const NLA_TYPE_MASK %d\n", (int) (uint16_t) NLA_TYPE_MASK);
    return 0;
}
