package io.romulus.netbuf.internal.plug;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.ByteBuffer;

import io.romulus.netbuf.internal.netlink.NetlinkGolden;
import io.romulus.netbuf.internal.netlink.NetlinkMessageWriter;
import io.romulus.netbuf.internal.netlink.Rtnetlink;

import org.junit.jupiter.api.Test;

/**
 * The RTM_NEWQDISC requests the plug output buffer sends, against golden bytes that
 * {@code src/test/c/netlink_golden.c} builds with the installed kernel headers' structs and constants:
 * linux/netlink.h (nlmsghdr), rtnetlink.h (struct tcmsg, TCA_KIND, TCA_OPTIONS) and pkt_sched.h
 * (struct tc_plug_qopt, TCQ_PLUG_*). Per epoch the request is a change (no NLM_F_CREATE), as
 * {@code tc qdisc change dev IFB root plug ...} sends it. Each message: nlmsghdr (len 60, RTM_NEWQDISC, flags, seq
 * 0x0a0b0c0d, pid 0); tcmsg (AF_UNSPEC, ifindex 7, handle, parent TC_H_ROOT, info 0); TCA_KIND "plug\0" padded to
 * 4; TCA_OPTIONS tc_plug_qopt { int action; __u32 limit 10000 }.
 */
class PlugMessageTest {

    private static final int IFINDEX = 7;
    private static final int LIMIT = 10000;

    private static byte[] message(int flags, int handle, int action) {
        NetlinkMessageWriter w = new NetlinkMessageWriter(ByteBuffer.allocate(256));
        PlugDevices.plugMessage(w, 0x0a0b0c0d, flags, IFINDEX, handle, action, LIMIT);
        byte[] out = new byte[w.length()];
        w.buffer().get(0, out);
        return out;
    }

    @Test
    void bufferStartsANewRegion() {
        assertArrayEquals(NetlinkGolden.bytes("plug_change_buffer"),
                message(PlugDevices.CHANGE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_BUFFER));
    }

    @Test
    void releaseOneLetsOutTheSealedRegion() {
        assertArrayEquals(NetlinkGolden.bytes("plug_change_release_one"),
                message(PlugDevices.CHANGE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_RELEASE_ONE));
    }

    @Test
    void releaseIndefiniteUnplugs() {
        assertArrayEquals(NetlinkGolden.bytes("plug_change_release_indefinite"),
                message(PlugDevices.CHANGE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_RELEASE_INDEFINITE));
    }

    @Test
    void createIsExclusiveAndPlugged() {
        // NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL (0x200) | NLM_F_CREATE (0x400) = 0x605
        assertArrayEquals(NetlinkGolden.bytes("plug_create_buffer"),
                message(PlugDevices.CREATE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_BUFFER));
    }

    @Test
    void discardGraftsANewQdiscUnderTheOtherHandle() {
        // NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE (0x100) | NLM_F_CREATE (0x400) = 0x505, handle 2:0
        assertArrayEquals(NetlinkGolden.bytes("plug_replace_buffer"),
                message(PlugDevices.REPLACE, PlugDevices.HANDLE_B, Rtnetlink.TCQ_PLUG_BUFFER));
    }
}
