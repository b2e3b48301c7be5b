package io.romulus.qemu.internal;

import static io.romulus.qemu.internal.TestNamespace.run;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.HypervisorException;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The MAC address move a failover makes before the standby runs: the RARP's bytes are QEMU's announce-self frame, the
 * rtnetlink requests are iproute2's, and on real interfaces of another network namespace the move brings the tap up,
 * points the bridge's entry at it and sends the RARP out of the bridge; a switchover's old copy leaves: its tap
 * becomes a disabled port, or goes down and out of the bridge; a host bridge without a MAC address of its own is
 * reported. Needs root.
 */
class MacAnnouncementTest {

    private final String netns = "rmt-mac-" + ProcessHandle.current().pid();

    @AfterEach
    void removeNamespace() throws Exception {
        new ProcessBuilder("ip", "netns", "del", netns).redirectErrorStream(true).start().waitFor(10,
                TimeUnit.SECONDS);
    }

    @Test
    void theFrameIsQemusReverseRequestFromTheAddressItself() {
        byte[] f = MacAnnouncement.rarp("52:54:00:12:34:56");
        HexFormat hex = HexFormat.of();
        assertEquals(60, f.length);
        assertEquals("ffffffffffff" + "525400123456" + "8035" + "0001" + "0800" + "06" + "04" + "0003"
                + "525400123456" + "00000000" + "525400123456" + "00000000" + "00".repeat(18), hex.formatHex(f));
        assertThrows(IllegalArgumentException.class, () -> MacAnnouncement.rarp("52:54:00:12:34"));
    }

    @Test
    void aBridgeLearnsTheAddressOnThePortTheFrameArrivesAt() throws Exception {
        run("ip", "netns", "add", netns);
        run("ip", "-n", netns, "link", "add", "br-t", "type", "bridge");
        run("ip", "-n", netns, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
        run("ip", "-n", netns, "link", "set", "v1", "master", "br-t");
        for (String dev : List.of("br-t", "v0", "v1")) {
            run("ip", "-n", netns, "link", "set", dev, "up");
        }
        String mac = "52:54:00:aa:bb:cc";
        assertFalse(run("bridge", "-netns", netns, "fdb", "show", "br", "br-t").contains(mac));

        MacAnnouncement.send(netns, "v0", List.of(mac));

        String fdb = run("bridge", "-netns", netns, "fdb", "show", "br", "br-t");
        assertTrue(fdb.contains(mac + " dev v1 master br-t"), fdb);
        IOException e = assertThrows(IOException.class, () -> MacAnnouncement.send(netns, "nosuch0", List.of(mac)));
        assertTrue(e.getMessage().contains("no interface nosuch0"), e.getMessage());
        assertArrayEquals(MacAnnouncement.rarp(mac), MacAnnouncement.rarp(mac.toUpperCase(Locale.ROOT)));

        // failover: the standby's tap, a port of the bridge but down, comes up and takes the address over (a veth
        // stands for the tap: its peer gives it the carrier a tap has while QEMU holds it)
        run("ip", "-n", netns, "link", "add", "tp0", "type", "veth", "peer", "name", "tq0");
        run("ip", "-n", netns, "link", "set", "tq0", "up");
        run("ip", "-n", netns, "link", "set", "tp0", "master", "br-t", "down");
        long received = rxPackets("v0");
        MacAnnouncement.moveHere(netns, List.of(new MacAnnouncement.Nic("tp0", "br-t", mac)));
        fdb = run("bridge", "-netns", netns, "fdb", "show", "br", "br-t");
        assertTrue(fdb.contains(mac + " dev tp0 master br-t"), fdb);
        assertFalse(fdb.contains(mac + " dev v1 master br-t"), fdb);
        assertTrue(run("ip", "-n", netns, "link", "show", "tp0").contains(",UP"), "tp0 is up");
        assertTrue(rxPackets("v0") > received, "the RARP went out of the bridge to v1 and arrived at v0");
        e = assertThrows(IOException.class, () -> MacAnnouncement.moveHere(netns,
                List.of(new MacAnnouncement.Nic("tp0", "nosuch-br", mac))));
        assertTrue(e.getMessage().contains("no interface nosuch-br"), e.getMessage());

        // switchover: the old copy's tap on a bridge with a MAC address of its own becomes a disabled port; on any
        // other bridge it goes down and out of it, which forgets the address on it; a tap that is gone already (its
        // QEMU ended) is skipped
        run("ip", "-n", netns, "link", "add", "tp1", "type", "veth", "peer", "name", "tq1");
        run("ip", "-n", netns, "link", "set", "tq1", "up");
        run("ip", "-n", netns, "link", "set", "tp1", "master", "br-t", "up");
        // forwarding first: the port's carrier reaches the bridge a moment after it is up, and would enable it again
        await().atMost(Duration.ofSeconds(10)).until(() -> run("bridge", "-netns", netns, "link", "show", "dev", "tp1")
                .contains("state forwarding"));
        assertEquals(List.of("tp1"), MacAnnouncement.leave(netns, List.of(new MacAnnouncement.Leaving("tp1", true))));
        String tp1 = run("bridge", "-netns", netns, "link", "show", "dev", "tp1");
        assertTrue(tp1.contains("master br-t") && tp1.contains("state disabled"), tp1);
        assertEquals(List.of("tp0"), MacAnnouncement.leave(netns, List.of(new MacAnnouncement.Leaving("tp0", false),
                new MacAnnouncement.Leaving("nosuch0", false))));
        String tp0 = run("ip", "-n", netns, "link", "show", "tp0");
        assertFalse(tp0.contains("master br-t"), tp0);
        assertFalse(tp0.contains(",UP"), tp0);
        fdb = run("bridge", "-netns", netns, "fdb", "show", "br", "br-t");
        assertFalse(fdb.contains(mac + " dev tp0"), fdb);
        assertEquals(List.of(), MacAnnouncement.leave(netns, List.of(new MacAnnouncement.Leaving("nosuch0", true))));
    }

    /** {@link BridgeAddress}: a bridge given no MAC address (it follows its ports) is reported, one with one is not. */
    @Test
    void aBridgeWithoutAnAddressOfItsOwnIsReportedAndOneWithAnAddressIsNot() throws Exception {
        run("ip", "netns", "add", netns);
        run("ip", "-n", netns, "link", "add", "br-t", "type", "bridge");

        Optional<String> why = BridgeAddress.unfixed(netns, "br-t");
        assertTrue(why.isPresent(), "a bridge given no address takes its ports'");
        assertTrue(why.get().contains("ip link set br-t address"), why.get());

        run("ip", "-n", netns, "link", "set", "br-t", "address", "02:77:00:00:01:00");
        assertEquals(Optional.empty(), BridgeAddress.unfixed(netns, "br-t"));
        assertThrows(HypervisorException.class, () -> BridgeAddress.unfixed(netns, "nosuch-br"));
    }

    @Test
    void theRtnetlinkRequestsAreWhatIproute2Sends() {
        HexFormat hex = HexFormat.of();
        // ip link set dev #7 up: nlmsghdr (32 bytes, RTM_NEWLINK, REQUEST|ACK, seq 1), ifinfomsg index 7, flags and
        // change IFF_UP
        assertEquals("20000000" + "1000" + "0500" + "01000000" + "00000000" + "00000000" + "07000000" + "01000000"
                + "01000000", hex.formatHex(MacAnnouncement.linkUp(7)));
        // bridge fdb replace 52:54:00:aa:bb:cc dev #9 master dynamic: RTM_NEWNEIGH, REQUEST|ACK|REPLACE|CREATE,
        // ndmsg AF_BRIDGE, NUD_REACHABLE, NTF_MASTER, NDA_LLADDR
        assertEquals("28000000" + "1c00" + "0505" + "01000000" + "00000000" + "07000000" + "09000000" + "0200" + "04"
                + "00" + "0a00" + "0200" + "525400aabbcc" + "0000", hex.formatHex(MacAnnouncement.forwardTo(9,
                        HexFormat.ofDelimiter(":").parseHex("52:54:00:aa:bb:cc"))));
        // ip link set dev #7 nomaster down: RTM_NEWLINK, flags 0 and change IFF_UP, IFLA_MASTER 0
        assertEquals("28000000" + "1000" + "0500" + "01000000" + "00000000" + "00000000" + "07000000" + "00000000"
                + "01000000" + "0800" + "0a00" + "00000000", hex.formatHex(MacAnnouncement.linkDownWithoutMaster(7)));
        // bridge link set dev #7 state 0: RTM_SETLINK, ifinfomsg AF_BRIDGE, IFLA_PROTINFO (nested) with
        // IFLA_BRPORT_STATE 0 (disabled), padded
        assertEquals("2c000000" + "1300" + "0500" + "01000000" + "00000000" + "07000000" + "07000000" + "00000000"
                + "00000000" + "0c00" + "0c80" + "0500" + "0100" + "00" + "000000",
                hex.formatHex(MacAnnouncement.portDisabled(7)));
    }

    private long rxPackets(String dev) throws Exception {
        String out = run("ip", "-n", netns, "-s", "link", "show", dev);
        String[] lines = out.split("\n");
        for (int i = 0; i < lines.length - 1; i++) {
            if (lines[i].trim().startsWith("RX:")) {
                return Long.parseLong(lines[i + 1].trim().split("\\s+")[1]);
            }
        }
        throw new AssertionError("no RX counters in: " + out);
    }
}
