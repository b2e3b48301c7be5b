package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The RARP a failover sends before the standby runs: its bytes are QEMU's announce-self frame, and sent on a real
 * interface of another network namespace it teaches a bridge where the MAC address is.
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
        assertArrayEquals(MacAnnouncement.rarp(mac), MacAnnouncement.rarp(mac.toUpperCase(java.util.Locale.ROOT)));
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + " failed (this test needs root and iproute2): "
                + out);
        return out;
    }
}
