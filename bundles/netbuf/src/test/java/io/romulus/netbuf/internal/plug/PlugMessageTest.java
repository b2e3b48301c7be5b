package io.romulus.netbuf.internal.plug;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.romulus.netbuf.internal.netlink.NetlinkMessageWriter;
import io.romulus.netbuf.internal.netlink.Rtnetlink;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The RTM_NEWQDISC requests the plug output buffer sends, against golden bytes written by hand from
 * include/uapi/linux/netlink.h (nlmsghdr), rtnetlink.h (struct tcmsg, TCA_KIND, TCA_OPTIONS) and pkt_sched.h
 * (struct tc_plug_qopt, TCQ_PLUG_*), for a little-endian host. Per epoch the request is a change (no NLM_F_CREATE),
 * as {@code tc qdisc change dev IFB root plug ...} sends it.
 */
class PlugMessageTest {

    private static final int IFINDEX = 7;
    private static final int LIMIT = 10000;

    @BeforeAll
    static void littleEndianHost() {
        assertEquals(ByteOrder.LITTLE_ENDIAN, ByteOrder.nativeOrder(),
                "the golden bytes are written for a little-endian host (x86-64, arm64)");
    }

    private static byte[] hex(String s) {
        String h = s.replaceAll("[^0-9a-fA-F]", "");
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    private static byte[] message(int flags, int handle, int action) {
        NetlinkMessageWriter w = new NetlinkMessageWriter(ByteBuffer.allocate(256));
        PlugDevices.plugMessage(w, 0x0a0b0c0d, flags, IFINDEX, handle, action, LIMIT);
        byte[] out = new byte[w.length()];
        w.buffer().get(0, out);
        return out;
    }

    private static String golden(String flags, String handle, String action) {
        return "3c000000 2400 " + flags + " 0d0c0b0a 00000000" // nlmsghdr: len 60, RTM_NEWQDISC (36), flags, seq, pid
                + "00 00 0000 07000000 " + handle + " ffffffff 00000000" // tcmsg: AF_UNSPEC, ifindex 7, handle,
                                                                            // parent TC_H_ROOT, info
                + "0900 0100 706c7567 00 000000"   // TCA_KIND "plug\0", padded to 4
                + "0c00 0200 " + action + " 10270000"; // TCA_OPTIONS: tc_plug_qopt { int action; __u32 limit 10000 }
    }

    @Test
    void bufferStartsANewRegion() {
        assertArrayEquals(hex(golden("0500", "00000100", "00000000")),
                message(PlugDevices.CHANGE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_BUFFER));
    }

    @Test
    void releaseOneLetsOutTheSealedRegion() {
        assertArrayEquals(hex(golden("0500", "00000100", "01000000")),
                message(PlugDevices.CHANGE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_RELEASE_ONE));
    }

    @Test
    void releaseIndefiniteUnplugs() {
        assertArrayEquals(hex(golden("0500", "00000100", "02000000")),
                message(PlugDevices.CHANGE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_RELEASE_INDEFINITE));
    }

    @Test
    void createIsExclusiveAndPlugged() {
        // NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL (0x200) | NLM_F_CREATE (0x400) = 0x605
        assertArrayEquals(hex(golden("0506", "00000100", "00000000")),
                message(PlugDevices.CREATE, PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_BUFFER));
    }

    @Test
    void discardGraftsANewQdiscUnderTheOtherHandle() {
        // NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE (0x100) | NLM_F_CREATE (0x400) = 0x505, handle 2:0
        assertArrayEquals(hex(golden("0505", "00000200", "00000000")),
                message(PlugDevices.REPLACE, PlugDevices.HANDLE_B, Rtnetlink.TCQ_PLUG_BUFFER));
    }
}
