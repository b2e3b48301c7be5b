package io.romulus.qemu.internal;

import static io.romulus.qemu.internal.TestNamespace.run;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;

import io.romulus.api.hypervisor.InboundFrame;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What reaches a paused guest during a switchover, on real taps of a network namespace the test makes: the test holds
 * each tap's queue itself, as QEMU would ({@code TUNSETIFF} with {@code IFF_TAP | IFF_NO_PI} on {@code /dev/net/tun}).
 * A frame a client sends into the bridge towards the guest is kept, with its NIC; what the guest sends, and the
 * guest's own address announced from elsewhere, are not. Delivered on a tap, a frame reaches the tap's reader, and
 * the bridge learns nothing from it. Needs root, iproute2, bash and {@code /dev/net/tun}.
 */
class InboundCaptureTest {

    private static final String GUEST = "52:54:00:aa:bb:01";
    private static final String CLIENT = "02:00:00:00:00:07";
    private static final long TUNSETIFF = 0x400454caL;
    private static final long TUNSETOFFLOAD = 0x400454d0L;
    private static final int TUN_F_CSUM = 1;
    private static final int PACKET_VNET_HDR = 15;
    private static final short IFF_TAP = 0x0002;
    private static final short IFF_NO_PI = 0x1000;
    private static final int O_RDWR_NONBLOCK = 0x2 | 0x800;

    /** The C calls the test makes as QEMU would: its own, so that the binding's stay as they are. */
    interface Tun extends Library {
        Tun C = Native.load("c", Tun.class);

        int open(String path, int flags);

        int ioctl(int fd, long request, Memory ifreq);

        int ioctl(int fd, long request, long value);

        long read(int fd, byte[] buffer, long size);

        long write(int fd, byte[] buffer, long size);

        int close(int fd);
    }

    private final String netns = "rmt-in-" + ProcessHandle.current().pid();
    private final List<Integer> queues = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (int fd : queues) {
            Tun.C.close(fd);
        }
        TestNamespace.delete(netns);
    }

    @Test
    void whatTheBridgeSendsTowardsThePausedGuestIsKeptWithItsNicAndDeliveredIntoAnotherTap() throws Exception {
        TestNamespace.add(netns);
        run("ip", "-n", netns, "link", "add", "br-t", "type", "bridge");
        run("ip", "-n", netns, "link", "add", "c0", "type", "veth", "peer", "name", "c1");
        run("ip", "-n", netns, "link", "set", "c1", "master", "br-t");
        for (String tap : List.of("tp0", "tp1")) {
            run("ip", "-n", netns, "tuntap", "add", "dev", tap, "mode", "tap");
        }
        int guest = openQueue("tp0"); // the old copy's QEMU, paused: it reads nothing
        // as QEMU's: the tap leaves checksums to its reader, so what the host's stack sends keeps one to complete
        assertEquals(0, Tun.C.ioctl(guest, TUNSETOFFLOAD, TUN_F_CSUM));
        int next = openQueue("tp1"); // the new copy's
        for (String dev : List.of("tp0", "tp1")) {
            run("ip", "-n", netns, "link", "set", dev, "master", "br-t");
        }
        for (String dev : List.of("br-t", "c0", "c1", "tp0", "tp1")) {
            run("ip", "-n", netns, "link", "set", dev, "up");
        }

        InboundCapture capture = InboundCapture.start(netns, List.of("tp0"), List.of(GUEST));
        byte[] request = frame(GUEST, CLIENT, "a client's request to the guest");
        // from the guest's side: the host receives it from the tap, it is not sent towards the guest
        byte[] fromGuest = frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:99", "what the guest sends");
        assertEquals(fromGuest.length, Tun.C.write(guest, fromGuest, fromGuest.length));
        send("c0", request);
        // a SYN from a client of this host: its TCP checksum left to the device all the way into the tap
        byte[] syn = tcpSyn();
        sendChecksumLeftToDevice("c0", syn);
        // then the guest's address announced by the new host, flooded back here: not the guest's to read
        MacAnnouncement.send(netns, "c0", List.of(GUEST));
        await().atMost(Duration.ofSeconds(10)).until(() -> readUntil(guest, MacAnnouncement.rarp(GUEST)));

        // the old copy stops: its QEMU ends and its tap goes; what the socket kept stays
        Tun.C.close(guest);
        queues.remove(Integer.valueOf(guest));
        run("ip", "-n", netns, "link", "del", "tp0");
        // the host's own IGMP reports out of the bridge may come too: they are sent towards the guest as well
        List<InboundFrame> kept = capture.take().stream().filter(InboundCaptureTest::ofTheTest).toList();

        assertEquals(2, kept.size(), "only the clients' frames: " + kept.stream()
                .map(f -> HexFormat.of().formatHex(f.frame(), 0, Math.min(f.frame().length, 48))).toList());
        assertEquals(0, kept.get(0).nic());
        assertArrayEquals(request, kept.get(0).frame());
        byte[] completed = kept.get(1).frame();
        assertEquals(syn.length, completed.length);
        assertTrue(tcpChecksumValid(completed), "the SYN's checksum is completed: "
                + HexFormat.of().formatHex(completed));
        assertFalse(tcpChecksumValid(syn), "as sent it was not");
        assertArrayEquals(Arrays.copyOf(syn, 50), Arrays.copyOf(completed, 50), "the rest as sent");

        // the new primary: the frame goes into the guest through tp1 (NIC 1 here) and only there
        byte[] relayed = frame(GUEST, "02:00:00:00:00:08", "a relayed request");
        assertEquals(1, InboundCapture.deliver(netns, List.of("tp0", "tp1"), List.of(new InboundFrame(1, relayed))));
        await().atMost(Duration.ofSeconds(10)).until(() -> readUntil(next, relayed));
        String fdb = run("bridge", "-netns", netns, "fdb", "show", "br", "br-t");
        assertFalse(fdb.contains("02:00:00:00:00:08"), "the bridge did not see the delivered frame: " + fdb);
        assertEquals(0, InboundCapture.deliver(netns, List.of("tp0", "tp1"), List.of(new InboundFrame(2, relayed))),
                "a NIC the guest does not have");
    }

    /** An Ethernet frame to {@code dst} from {@code src} of a local experimental type, padded to 60 bytes. */
    private static byte[] frame(String dst, String src, String payload) {
        HexFormat mac = HexFormat.ofDelimiter(":");
        byte[] p = payload.getBytes(StandardCharsets.UTF_8);
        byte[] f = new byte[Math.max(60, 14 + p.length)];
        System.arraycopy(mac.parseHex(dst), 0, f, 0, 6);
        System.arraycopy(mac.parseHex(src), 0, f, 6, 6);
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        System.arraycopy(p, 0, f, 14, p.length);
        return f;
    }

    /** Whether {@code f} is of the test's type, TCP or an announcement (RARP), not the host's own noise (IGMP). */
    private static boolean ofTheTest(InboundFrame f) {
        int type = ((f.frame()[12] & 0xff) << 8) | (f.frame()[13] & 0xff);
        return type == 0x88b5 || type == 0x8035 || (type == 0x0800 && f.frame()[23] == 6);
    }

    /**
     * A TCP SYN from 10.79.0.7:40000 to the guest's 10.79.0.2:80, its IPv4 header complete and its TCP checksum left
     * to the device: the field holds the pseudo-header's sum, as the kernel's stack leaves it.
     */
    private static byte[] tcpSyn() {
        HexFormat hex = HexFormat.of();
        byte[] f = new byte[54];
        System.arraycopy(HexFormat.ofDelimiter(":").parseHex(GUEST), 0, f, 0, 6);
        System.arraycopy(HexFormat.ofDelimiter(":").parseHex(CLIENT), 0, f, 6, 6);
        System.arraycopy(hex.parseHex("0800" + "4500002800004000" + "40060000" + "0a4f0007" + "0a4f0002"), 0, f, 12,
                22);
        int ip = ~sum(f, 14, 34, 0) & 0xffff;
        f[24] = (byte) (ip >> 8);
        f[25] = (byte) ip;
        System.arraycopy(hex.parseHex("9c400050" + "00000001" + "00000000" + "5002faf0" + "0000" + "0000"), 0, f, 34,
                20);
        int pseudo = sum(f, 26, 34, 6 + 20);
        f[50] = (byte) (pseudo >> 8);
        f[51] = (byte) pseudo;
        return f;
    }

    /** Whether the TCP checksum of IPv4 frame {@code f} is right: pseudo-header and segment sum to 0xffff. */
    private static boolean tcpChecksumValid(byte[] f) {
        return sum(f, 34, f.length, sum(f, 26, 34, 6 + (f.length - 34))) == 0xffff;
    }

    /** The one's complement sum of {@code f[from..to)} in 16-bit words, with {@code initial}, folded. */
    private static int sum(byte[] f, int from, int to, int initial) {
        long s = initial;
        for (int i = from; i < to; i += 2) {
            s += ((f[i] & 0xff) << 8) | (f[i + 1] & 0xff);
        }
        while ((s >> 16) != 0) {
            s = (s & 0xffff) + (s >> 16);
        }
        return (int) s;
    }

    /** Sends {@code frame} with a virtio header that leaves its TCP checksum to the device. */
    private void sendChecksumLeftToDevice(String device, byte[] frame) throws Exception {
        MacAnnouncement.inNamespace(netns, "sending on " + device, libc -> {
            int fd = PacketSockets.open(libc, device, 0, false);
            try (Memory m = new Memory(10 + frame.length); Memory on = new Memory(4)) {
                on.setInt(0, 1);
                if (libc.setsockopt(fd, PacketSockets.SOL_PACKET, PACKET_VNET_HDR, on, 4) != 0) {
                    throw new java.io.IOException("PACKET_VNET_HDR on " + device + " failed");
                }
                m.clear();
                m.setByte(0, (byte) 1); // VIRTIO_NET_HDR_F_NEEDS_CSUM
                m.setShort(6, (short) 34); // csum_start: the TCP header
                m.setShort(8, (short) 16); // csum_offset: its checksum field
                m.write(10, frame, 0, frame.length);
                if (libc.send(fd, m, 10 + frame.length, 0) != 10 + frame.length) {
                    throw new java.io.IOException("sending on " + device + " failed");
                }
            } finally {
                libc.close(fd);
            }
        });
    }

    /** Opens the queue of tap {@code tap} of the namespace, as QEMU does: non-blocking here. */
    private int openQueue(String tap) throws Exception {
        int[] fd = {-1};
        MacAnnouncement.inNamespace(netns, "opening " + tap, libc -> {
            fd[0] = Tun.C.open("/dev/net/tun", O_RDWR_NONBLOCK);
            try (Memory ifreq = new Memory(40)) {
                ifreq.clear();
                ifreq.setString(0, tap);
                ifreq.setShort(16, (short) (IFF_TAP | IFF_NO_PI));
                if (fd[0] < 0 || Tun.C.ioctl(fd[0], TUNSETIFF, ifreq) != 0) {
                    throw new java.io.IOException("TUNSETIFF " + tap + " failed (this test needs /dev/net/tun)");
                }
            }
        });
        queues.add(fd[0]);
        return fd[0];
    }

    /** Reads the queue until {@code wanted} comes (true) or nothing is left (false). */
    private static boolean readUntil(int queue, byte[] wanted) {
        byte[] buffer = new byte[65536];
        long n;
        while ((n = Tun.C.read(queue, buffer, buffer.length)) > 0) {
            if (Arrays.equals(wanted, Arrays.copyOf(buffer, (int) n))) {
                return true;
            }
        }
        return false;
    }

    private void send(String device, byte[] frame) throws Exception {
        MacAnnouncement.inNamespace(netns, "sending on " + device, libc -> {
            int fd = PacketSockets.open(libc, device, 0, false);
            try (Memory m = new Memory(frame.length)) {
                m.write(0, frame, 0, frame.length);
                if (libc.send(fd, m, frame.length, 0) != frame.length) {
                    throw new java.io.IOException("sending on " + device + " failed");
                }
            } finally {
                libc.close(fd);
            }
        });
    }
}
