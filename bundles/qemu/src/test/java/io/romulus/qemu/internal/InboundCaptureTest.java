package io.romulus.qemu.internal;

import static io.romulus.qemu.internal.TestNamespace.run;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

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
    private static final short IFF_TAP = 0x0002;
    private static final short IFF_NO_PI = 0x1000;
    private static final int O_RDWR_NONBLOCK = 0x2 | 0x800;

    /** The C calls the test makes as QEMU would: its own, so that the binding's stay as they are. */
    interface Tun extends Library {
        Tun C = Native.load("c", Tun.class);

        int open(String path, int flags);

        int ioctl(int fd, long request, Memory ifreq);

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
        // then the guest's address announced by the new host, flooded back here: not the guest's to read
        MacAnnouncement.send(netns, "c0", List.of(GUEST));
        await().atMost(Duration.ofSeconds(10)).until(() -> readUntil(guest, MacAnnouncement.rarp(GUEST)));

        // the host's own IGMP reports out of the bridge may come too: they are sent towards the guest as well
        List<InboundFrame> kept = capture.take().stream().filter(InboundCaptureTest::ofTheTest).toList();

        assertEquals(1, kept.size(), "only the client's frame: " + kept.stream()
                .map(f -> HexFormat.of().formatHex(f.frame(), 0, Math.min(f.frame().length, 48))).toList());
        assertEquals(0, kept.get(0).nic());
        assertArrayEquals(request, kept.get(0).frame());

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

    /** Whether {@code f} is of the test's type or an announcement (RARP), not the host's own noise. */
    private static boolean ofTheTest(InboundFrame f) {
        int type = ((f.frame()[12] & 0xff) << 8) | (f.frame()[13] & 0xff);
        return type == 0x88b5 || type == 0x8035;
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
