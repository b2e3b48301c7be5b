package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.sun.jna.Memory;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The frames waiting for a stopped guest, on real objects: a QEMU started stopped ({@code -S}: it never reads its
 * tap, as a guest paused for its final checkpoint) with a virtio NIC on a tap in a bridge of a network namespace the
 * test makes; a veth port {@code va} of the bridge, whose peer {@code vb} stands for the client, sends the guest
 * three datagrams. They wait in the tap; {@link TapBacklog#take} reads them out of QEMU's descriptor, and once the
 * guest's address has moved (the bridge's entry points at {@code va}, as the new host's announcement makes it) and
 * QEMU is gone, {@link TapBacklog#resend} sends them out of the bridge, towards the address's new place. Needs root,
 * iproute2 and qemu-system-x86_64 (scripts/test installs them).
 */
class TapBacklogTest {

    private static final String MAC = "52:54:00:77:00:09";
    private final String netns = "rmt-tb-" + ProcessHandle.current().pid();
    private Process qemu;

    @TempDir
    Path dir;

    @AfterEach
    void cleanUp() throws Exception {
        if (qemu != null) {
            qemu.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        new ProcessBuilder("ip", "netns", "del", netns).redirectErrorStream(true).start().waitFor(10,
                TimeUnit.SECONDS);
    }

    @Test
    void whatWaitsInAStoppedGuestsTapIsReadOutAndSentWhereItsAddressIsNow() throws Exception {
        run("ip", "netns", "add", netns);
        run("ip", "netns", "exec", netns, "bash", "-c", "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; "
                + "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6");
        run("ip", "-n", netns, "link", "add", "br0", "type", "bridge");
        run("ip", "-n", netns, "link", "add", "va", "type", "veth", "peer", "name", "vb");
        run("ip", "-n", netns, "link", "set", "va", "master", "br0");
        run("ip", "-n", netns, "addr", "add", "10.78.0.1/24", "dev", "vb");
        for (String dev : List.of("br0", "va", "vb")) {
            run("ip", "-n", netns, "link", "set", dev, "up");
        }
        qemu = new ProcessBuilder("ip", "netns", "exec", netns, "qemu-system-x86_64", "-S", "-nodefaults",
                "-display", "none", "-accel", "tcg", "-m", "64", "-netdev",
                "tap,id=n0,ifname=tbtap0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac=" + MAC)
                .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!exitsZero("ip", "-n", netns, "link", "show", "tbtap0")) {
            assertTrue(qemu.isAlive(), "QEMU ended: " + java.nio.file.Files.readString(dir.resolve("qemu.log")));
            assertTrue(System.nanoTime() - deadline < 0, "QEMU made no tap in 30 s");
            Thread.sleep(50);
        }
        run("ip", "-n", netns, "link", "set", "tbtap0", "master", "br0", "up");
        run("ip", "-n", netns, "neigh", "add", "10.78.0.9", "lladdr", MAC, "dev", "vb");
        run("bridge", "-n", netns, "fdb", "replace", MAC, "dev", "tbtap0", "master", "static");
        for (String dev : List.of("vb", "va", "br0", "tbtap0")) {
            awaitActive(dev);
        }
        // the switchover's last pause is coming: what the bridge sends the guest is kept from here on
        TapBacklog backlog = TapBacklog.open(netns, List.of("tbtap0"), List.of("br0"), List.of(MAC));
        send("before");
        // the guest stopped (QEMU never runs it here: -S): what came before may have reached it, and is dropped
        backlog.pauseEnded();
        // the client's requests reach the tap of the stopped guest; QEMU reads the first into a queue of its own
        // and no more, the others wait in the tap: all are lost with it, unless kept
        for (int i = 1; i <= 3; i++) {
            send("request" + i);
        }
        List<TapBacklog.Waiting> waiting = backlog.take();
        assertEquals(1, waiting.size());
        TapBacklog.Waiting w = waiting.get(0);
        assertEquals("br0", w.bridge());
        // besides the requests, the bridge floods the client's multicast reports (IGMP) to the tap
        List<String> requests = w.frames().stream().map(f -> new String(f, StandardCharsets.ISO_8859_1))
                .filter(f -> f.contains("request") || f.contains("before"))
                .map(f -> f.contains("before") ? "before" : f.substring(f.indexOf("request"), f.indexOf("request") + 8))
                .toList();
        assertEquals(List.of("request1", "request2", "request3"), requests, "all since the pause, in order, whole");

        // the address moves (the new host's announcement teaches the bridge it is behind va), the old QEMU ends
        run("bridge", "-n", netns, "fdb", "replace", MAC, "dev", "va", "master");
        qemu.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        long before = rxPackets("vb");
        int taken = TapBacklog.count(waiting);
        assertEquals(taken, TapBacklog.resend(netns, waiting));
        long arrived = 0;
        for (int i = 0; i < 100 && arrived < taken; i++) {
            Thread.sleep(20);
            arrived = rxPackets("vb") - before;
        }
        assertTrue(arrived >= taken, "the frames went out of the bridge to where the address is now: " + arrived
                + " of " + taken);
    }

    @Test
    void aFrameIsSentAgainWithItsHeaderButNotAsReceivedValidAndTheGuestsOwnAreNotKept() {
        byte[] frame = new byte[10 + 60];
        frame[0] = 3; // needs checksum | data valid
        frame[1] = 1; // GSO TCPv4
        Arrays.fill(frame, 10, frame.length, (byte) 7);
        try (Memory buf = new Memory(200)) {
            assertEquals(70, TapBacklog.packetOf(frame, buf));
            assertEquals(1, buf.getByte(0), "data valid is the receiver's flag");
            assertEquals(1, buf.getByte(1), "the GSO type stays");
            byte[] payload = new byte[60];
            Arrays.fill(payload, (byte) 7);
            assertArrayEquals(payload, buf.getByteArray(10, 60));
        }
        byte[] guest = {7, 7, 7, 7, 7, 7};
        assertTrue(TapBacklog.fromGuest(frame, guest), "source address the guest's: its own frame");
        assertTrue(!TapBacklog.fromGuest(frame, new byte[] {7, 7, 7, 7, 7, 8}), "another source: for the guest");
    }

    /** The client sends the guest a datagram saying {@code what}, and it has reached the tap. */
    private void send(String what) throws Exception {
        run("ip", "netns", "exec", netns, "bash", "-c", "echo " + what + " > /dev/udp/10.78.0.9/9");
        Thread.sleep(200); // the veth hands frames on in a softirq after the sender returns: let them reach the tap
    }

    /**
     * Waits for the kernel's link watch to activate {@code dev}, which was just set up: until then its queueing
     * discipline is "noop" and drops what the device is to send.
     */
    private void awaitActive(String dev) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (run("ip", "-n", netns, "link", "show", dev).contains("qdisc noop")) {
            assertTrue(System.nanoTime() - deadline < 0, dev + " was not activated in 10 s");
            Thread.sleep(20);
        }
    }

    private long rxPackets(String dev) throws Exception {
        return Long.parseLong(run("ip", "netns", "exec", netns, "cat", "/sys/class/net/" + dev
                + "/statistics/rx_packets").trim());
    }

    private static boolean exitsZero(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor() == 0;
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed: " + out);
        }
        return out;
    }
}
