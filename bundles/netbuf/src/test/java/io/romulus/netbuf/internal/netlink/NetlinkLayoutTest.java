package io.romulus.netbuf.internal.netlink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.romulus.support.linux.Errno;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Byte layouts of the netlink structs and messages Romulus sends and parses, against golden bytes that
 * {@code src/test/c/netlink_golden.c} builds with the structs and constants of the installed kernel headers
 * (linux/netlink.h, netfilter/nfnetlink.h, netfilter/nfnetlink_queue.h, netfilter.h, rtnetlink.h, pkt_sched.h),
 * compiled at test time ({@link NetlinkGolden}). The comments say what the bytes are; the C program is their source.
 */
class NetlinkLayoutTest {

    private static byte[] golden(String sample) {
        return NetlinkGolden.bytes(sample);
    }

    private static byte[] written(NetlinkMessageWriter w) {
        ByteBuffer b = w.buffer();
        byte[] out = new byte[w.length()];
        b.get(0, out);
        return out;
    }

    private static NetlinkMessageWriter writer() {
        return new NetlinkMessageWriter(ByteBuffer.allocate(4096));
    }

    private static ByteBuffer wrap(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.nativeOrder());
    }

    @Test
    void nlmsghdrIsHostOrderAndSixteenBytes() {
        NetlinkMessageWriter w = writer();
        assertEquals(16, w.begin(0x1234, Netlink.NLM_F_REQUEST | Netlink.NLM_F_ACK, 0x01020304).end());
        // __u32 nlmsg_len, __u16 nlmsg_type, __u16 nlmsg_flags, __u32 nlmsg_seq, __u32 nlmsg_pid
        assertArrayEquals(golden("nlmsghdr"), written(w));
    }

    @Test
    void nfgenmsgCarriesTheQueueBigEndian() {
        NetlinkMessageWriter w = writer();
        Nfqueue.nfgenmsg(w, Netlink.AF_INET, 0x1068);
        // __u8 nfgen_family, __u8 version (NFNETLINK_V0), __be16 res_id
        assertArrayEquals(golden("nfgenmsg"), written(w));
    }

    @Test
    void configBindCommand() {
        NetlinkMessageWriter w = writer();
        Nfqueue.configCommand(w, 1, 4200, Nfqueue.NFQNL_CFG_CMD_BIND);
        // len 28, NFNL_SUBSYS_QUEUE<<8 | NFQNL_MSG_CONFIG, REQUEST|ACK; nfgenmsg: AF_UNSPEC, v0, queue 4200
        // big-endian; NFQA_CFG_CMD: command BIND, _pad, __be16 pf 0
        assertArrayEquals(golden("config_bind"), written(w));
    }

    @Test
    void configUnbindCommand() {
        NetlinkMessageWriter w = writer();
        Nfqueue.configCommand(w, 2, 1, Nfqueue.NFQNL_CFG_CMD_UNBIND);
        assertArrayEquals(golden("config_unbind"), written(w));
    }

    @Test
    void configParamsMaxlenAndFlags() {
        NetlinkMessageWriter w = writer();
        Nfqueue.configParams(w, 2, 4200, Nfqueue.NFQNL_COPY_PACKET, 64, 16384,
                Nfqueue.NFQA_CFG_F_FAIL_OPEN | Nfqueue.NFQA_CFG_F_GSO, Nfqueue.NFQA_CFG_F_GSO);
        // NFQA_CFG_PARAMS: __be32 copy_range 64, __u8 mode, packed: len 9; NFQA_CFG_QUEUE_MAXLEN 16384, big-endian;
        // NFQA_CFG_MASK FAIL_OPEN|GSO; NFQA_CFG_FLAGS GSO (fail-open off)
        assertArrayEquals(golden("config_params"), written(w));
    }

    @Test
    void verdictBatchHeader() {
        NetlinkMessageWriter w = writer();
        Nfqueue.verdictBatch(w, 3, 4200, Nfqueue.NF_ACCEPT, 0x01020304);
        // NFQNL_MSG_VERDICT_BATCH, REQUEST only (no ack per epoch); NFQA_VERDICT_HDR: __be32 verdict NF_ACCEPT,
        // __be32 id
        assertArrayEquals(golden("verdict_batch"), written(w));
    }

    @Test
    void singleVerdictDrop() {
        NetlinkMessageWriter w = writer();
        Nfqueue.verdict(w, 4, 7, Nfqueue.NF_DROP, 42);
        assertArrayEquals(golden("verdict_drop"), written(w));
    }

    @Test
    void twoMessagesInOneBatch() {
        NetlinkMessageWriter w = writer();
        Nfqueue.verdictBatch(w, 1, 1, Nfqueue.NF_DROP, 5);
        Nfqueue.verdictBatch(w, 2, 1, Nfqueue.NF_ACCEPT, 9);
        assertEquals(64, w.length());
        assertArrayEquals(golden("verdict_batch_two"), written(w));
    }

    /**
     * An NFQNL_MSG_PACKET as the kernel builds it (nfqnl_build_packet_message) in NFQNL_COPY_PACKET mode: len 60;
     * nfgenmsg NFPROTO_IPV4, v0, queue 4200; NFQA_PACKET_HDR (packed, 7): id 42, ETH_P_IP, NF_INET_FORWARD;
     * NFQA_IFINDEX_INDEV 3; NFQA_CAP_LEN 1500 (only 8 bytes copied); NFQA_PAYLOAD, 8 bytes.
     */
    @Test
    void packetMessage() throws NetlinkException {
        NetlinkMessageReader m = new NetlinkMessageReader().reset(wrap(golden("packet")), 60);
        assertTrue(m.next());
        assertTrue(Nfqueue.isPacket(m));
        assertEquals(4200, Nfqueue.queueOf(m));
        NetlinkAttributes a = Nfqueue.attributes(m, new NetlinkAttributes(Nfqueue.NFQA_MAX_KNOWN));
        assertEquals(42, Nfqueue.packetId(a));
        assertEquals(0x0800, Nfqueue.hwProtocol(a));
        assertEquals(2, Nfqueue.hook(a));
        assertEquals(3, a.be32(Nfqueue.NFQA_IFINDEX_INDEV));
        assertEquals(1500, Nfqueue.packetLength(a), "NFQA_CAP_LEN is the packet's length");
        assertEquals(8, a.length(Nfqueue.NFQA_PAYLOAD));
        assertFalse(m.next());
    }

    @Test
    void packetLengthWithoutCapLenIsThePayload() throws NetlinkException {
        byte[] b = golden("packet_without_cap_len");
        NetlinkMessageReader m = new NetlinkMessageReader().reset(wrap(b), b.length);
        assertTrue(m.next());
        NetlinkAttributes a = Nfqueue.attributes(m, new NetlinkAttributes(Nfqueue.NFQA_MAX_KNOWN));
        assertEquals(7, Nfqueue.packetId(a));
        assertEquals(8, Nfqueue.packetLength(a));
    }

    @Test
    void packetIdsAboveTwoToTheThirtyOneStayUnsigned() throws NetlinkException {
        byte[] b = golden("packet_id_unsigned");
        NetlinkMessageReader m = new NetlinkMessageReader().reset(wrap(b), b.length);
        assertTrue(m.next());
        int id = Nfqueue.packetId(Nfqueue.attributes(m, new NetlinkAttributes(Nfqueue.NFQA_MAX_KNOWN)));
        assertEquals("4294967294", Integer.toUnsignedString(id));
    }

    @Test
    void ackAndError() throws NetlinkException {
        // struct nlmsgerr { int error; struct nlmsghdr msg; } with NETLINK_CAP_ACK: only the request's header
        byte[] ack = golden("ack");
        NetlinkMessageReader m = new NetlinkMessageReader().reset(wrap(ack), ack.length);
        assertTrue(m.next());
        assertTrue(m.isError());
        assertEquals(0, m.errorCode());
        assertEquals(7, m.errorRequestSeq());
        assertNull(m.errorMessage(new NetlinkAttributes(2)));

        // -EBUSY, capped, with an extended-ack TLV NLMSGERR_ATTR_MSG "busy"
        byte[] err = golden("error_capped");
        m.reset(wrap(err), err.length);
        assertTrue(m.next());
        assertEquals(Errno.EBUSY, m.errorCode());
        assertEquals(8, m.errorRequestSeq());
        assertEquals("busy", m.errorMessage(new NetlinkAttributes(2)));
    }

    @Test
    void uncappedErrorCarriesTheWholeRequest() throws NetlinkException {
        // error -EINVAL echoing a 28-byte request, then a TLV
        byte[] err = golden("error_uncapped");
        NetlinkMessageReader m = new NetlinkMessageReader().reset(wrap(err), err.length);
        assertTrue(m.next());
        assertEquals(Errno.EINVAL, m.errorCode());
        assertEquals("bad", m.errorMessage(new NetlinkAttributes(2)));
    }

    @Test
    void malformedLengthIsRefused() {
        byte[] b = golden("malformed_length");
        NetlinkMessageReader m = new NetlinkMessageReader().reset(wrap(b), b.length);
        assertThrows(NetlinkException.class, m::next);
    }

    @Test
    void tcmsgAndPlugQdisc() {
        NetlinkMessageWriter w = writer();
        Rtnetlink.plugQdisc(w, 9, 0, 5, 0x00010000, Rtnetlink.TC_H_ROOT, Rtnetlink.TCQ_PLUG_RELEASE_ONE, 0);
        // RTM_NEWQDISC 36, REQUEST|ACK; tcmsg: family, pad1, pad2, ifindex 5, 1:0, root; TCA_KIND "plug\0";
        // TCA_OPTIONS tc_plug_qopt { int action; __u32 limit; }
        assertArrayEquals(golden("plug_qdisc"), written(w));
    }

    @Test
    void plugLimit() {
        NetlinkMessageWriter w = writer();
        Rtnetlink.plugQopt(w, Rtnetlink.TCQ_PLUG_LIMIT, 10000);
        assertArrayEquals(golden("plug_qopt_limit"), written(w));
    }

    @Test
    void nestedAttributesAndAlignment() throws NetlinkException {
        NetlinkMessageWriter w = writer();
        int nest = w.openNested(1);
        w.attrU32(2, 7).attrU8(3, 0xab).attrBe16(4, 0x0102);
        w.close(nest);
        byte[] b = written(w);
        assertArrayEquals(golden("nested"), b);
        NetlinkAttributes outer = new NetlinkAttributes(4).parse(wrap(b), 0, b.length);
        assertTrue(outer.has(1), "NLA_F_NESTED is masked off the type");
        NetlinkAttributes inner = new NetlinkAttributes(4).parse(wrap(b), outer.offset(1), outer.offset(1)
                + outer.length(1));
        assertEquals(7, inner.u32(2));
        assertEquals(0xab, inner.u8(3));
        assertEquals(0x0102, inner.be16(4));
        assertEquals(1, inner.length(3), "nla_len excludes the padding");
    }

    @Test
    void alignmentMacros() {
        assertEquals(0, Netlink.attrAlign(0));
        assertEquals(8, Netlink.attrAlign(5));
        assertEquals(12, Netlink.attrAlign(9));
        assertEquals(16, Netlink.msgAlign(16));
        assertEquals(20, Netlink.msgAlign(17));
        assertEquals(0x3fff, Netlink.NLA_TYPE_MASK);
        assertEquals(NetlinkGolden.constant("NLA_TYPE_MASK"), Netlink.NLA_TYPE_MASK);
    }
}
