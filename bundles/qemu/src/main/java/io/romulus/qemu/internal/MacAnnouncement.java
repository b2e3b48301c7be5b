package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteOrder;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import com.sun.jna.Memory;

import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;

/**
 * Tells a host's bridge, and the switches beyond it, that a guest's MAC address is here now, before the guest runs:
 * one RARP frame per address, the frame QEMU's {@code announce-self} sends, sent by this node on the bridge device
 * itself (in the taps' network namespace) through a packet socket. QEMU queues its own announcement while the VM is
 * stopped, so a standby that is still loading its device state cannot announce; this does, so that the clients'
 * retransmissions reach the new host's tap (where they wait until the guest runs) instead of the dead one.
 *
 * <p>The bridge itself does not learn from frames it sends: the caller points its forwarding entry at the tap
 * ({@code bridge fdb replace}).
 */
final class MacAnnouncement {

    private static final int AF_PACKET = 17;
    private static final int SOCK_RAW = 3;
    private static final int ETH_P_RARP = 0x8035;
    private static final int O_RDONLY_CLOEXEC = 0x80000;
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int SOCKADDR_LL_SIZE = 20;
    private static final int FRAME_SIZE = 60;

    private MacAnnouncement() {
    }

    /** The RARP "reverse request" of {@code mac} from itself, padded to the Ethernet minimum, as QEMU builds it. */
    static byte[] rarp(String mac) {
        byte[] m = HexFormat.ofDelimiter(":").parseHex(mac);
        if (m.length != 6) {
            throw new IllegalArgumentException("not a MAC address: " + mac);
        }
        byte[] f = new byte[FRAME_SIZE];
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) 0xff; // broadcast
        }
        System.arraycopy(m, 0, f, 6, 6);
        f[12] = (byte) (ETH_P_RARP >> 8);
        f[13] = (byte) ETH_P_RARP;
        f[15] = 1; // hardware type Ethernet
        f[16] = 0x08; // protocol type IPv4
        f[18] = 6; // hardware address length
        f[19] = 4; // protocol address length
        f[21] = 3; // reverse request
        System.arraycopy(m, 0, f, 22, 6); // sender hardware address; its protocol address stays 0
        System.arraycopy(m, 0, f, 32, 6); // target hardware address; its protocol address stays 0
        return f;
    }

    /**
     * Sends one RARP per address in {@code macs} on {@code device} of network namespace {@code netns} (empty: this
     * node's own). Runs in a thread of its own, which alone enters the namespace.
     */
    static void send(String netns, String device, List<String> macs) throws IOException {
        AtomicReference<Exception> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                sendHere(netns, device, macs);
            } catch (IOException | RuntimeException e) {
                failure.set(e);
            }
        }, "romulus-announce-" + device);
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("announcing " + macs + " on " + device + " interrupted", e);
        }
        Exception e = failure.get();
        if (e != null) {
            throw new IOException("cannot announce " + macs + " on " + device + (netns.isEmpty() ? "" : " in "
                    + netns) + ": " + e.getMessage(), e);
        }
    }

    private static void sendHere(String netns, String device, List<String> macs)
            throws IOException {
        LibC libc = LibcLoader.load("announcing a guest's MAC address");
        if (!netns.isEmpty()) {
            int ns = libc.open("/run/netns/" + netns, O_RDONLY_CLOEXEC);
            if (ns < 0) {
                throw new IOException("no network namespace " + netns + ": " + Errno.text(LibcLoader.lastError()));
            }
            try {
                // this thread stays in the namespace and ends after the send
                if (libc.setns(ns, CLONE_NEWNET) != 0) {
                    throw new IOException("cannot enter network namespace " + netns + ": "
                            + Errno.text(LibcLoader.lastError()));
                }
            } finally {
                libc.close(ns);
            }
        }
        int index = libc.if_nametoindex(device);
        if (index == 0) {
            throw new IOException("no interface " + device + ": " + Errno.text(LibcLoader.lastError()));
        }
        int fd = libc.socket(AF_PACKET, SOCK_RAW, 0);
        if (fd < 0) {
            throw new IOException("socket(AF_PACKET): " + Errno.text(LibcLoader.lastError()));
        }
        try (Memory addr = new Memory(SOCKADDR_LL_SIZE); Memory frame = new Memory(FRAME_SIZE)) {
            addr.clear();
            addr.setShort(0, (short) AF_PACKET);
            short protocol = (short) ETH_P_RARP;
            addr.setShort(2, ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? Short.reverseBytes(protocol)
                    : protocol); // network byte order
            addr.setInt(4, index);
            if (libc.bind(fd, addr, SOCKADDR_LL_SIZE) != 0) {
                throw new IOException("bind to " + device + ": " + Errno.text(LibcLoader.lastError()));
            }
            for (String mac : macs) {
                frame.write(0, rarp(mac), 0, FRAME_SIZE);
                if (libc.send(fd, frame, FRAME_SIZE, 0) != FRAME_SIZE) {
                    throw new IOException("send on " + device + ": " + Errno.text(LibcLoader.lastError()));
                }
            }
        } finally {
            libc.close(fd);
        }
    }
}
