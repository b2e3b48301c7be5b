package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import com.sun.jna.Memory;

import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;

/**
 * Tells a host's bridge, and the switches beyond it, that a guest's MAC address is here now, before the guest runs.
 * For each NIC, in the taps' network namespace and by the node itself (no command to start, a millisecond in all):
 * the tap comes up (rtnetlink {@code RTM_NEWLINK}; it joined its bridge down when the standby started), the bridge's
 * forwarding entry for the address points at the tap ({@code RTM_NEWNEIGH}, what {@code bridge fdb replace MAC dev
 * TAP master dynamic} sends: a bridge does not learn from frames it sends itself), and one RARP frame, the frame
 * QEMU's {@code announce-self} sends, goes out on the bridge through a packet socket, so that the switches beyond
 * learn it too. QEMU queues its own announcement while the VM is stopped, so a standby that is still loading its
 * device state cannot announce; this does, so that the clients' retransmissions reach the new host's tap (where they
 * wait until the guest runs) instead of the dead one. When a switchover moves the guest away, {@link #leave} takes the
 * old copy's taps down and out of their bridges the same way, so that nothing reaches or leaves that copy any more.
 */
final class MacAnnouncement {

    private static final int SOCK_RAW = 3;
    private static final int ETH_P_RARP = 0x8035;
    private static final int O_RDONLY_CLOEXEC = 0x80000;
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int FRAME_SIZE = 60;
    private static final int AF_NETLINK = 16;
    private static final int AF_UNSPEC = 0;
    private static final int AF_BRIDGE = 7;
    private static final int NETLINK_ROUTE = 0;
    private static final short RTM_NEWLINK = 16;
    private static final short RTM_NEWNEIGH = 28;
    private static final short NLMSG_ERROR = 2;
    private static final short NLM_F_REQUEST = 1;
    private static final short NLM_F_ACK = 4;
    private static final short NLM_F_REPLACE = 0x100;
    private static final short NLM_F_CREATE = 0x400;
    private static final int IFF_UP = 1;
    private static final short NUD_REACHABLE = 2;
    private static final short NUD_NOARP = 0x40;
    private static final int EPERM = 1;
    private static final int ENODEV = 19;
    /** How long a learnt entry is retried while the port is not forwarding yet, before a static one is made. */
    private static final long FORWARDING_WAIT_NANOS = 200_000_000L;
    private static final byte NTF_MASTER = 4;
    private static final short NDA_LLADDR = 2;
    private static final short IFLA_MASTER = 10;
    private static final short RTM_SETLINK = 19;
    private static final int NLA_F_NESTED = 0x8000;
    private static final int IFLA_PROTINFO = 12;
    private static final short IFLA_BRPORT_STATE = 1;
    private static final byte BR_STATE_DISABLED = 0;

    /** One NIC to move: its tap, the bridge the tap is a port of, the guest's MAC address. */
    record Nic(String tap, String bridge, String mac) {
    }

    private MacAnnouncement() {
    }

    /** The RARP "reverse request" of {@code mac} from itself, padded to the Ethernet minimum, as QEMU builds it. */
    static byte[] rarp(String mac) {
        byte[] m = mac(mac);
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
     * Moves each of {@code nics} here, in network namespace {@code netns} (empty: this node's own): tap up, forwarding
     * entry to the tap, RARP on the bridge. Runs in a thread of its own, which alone enters the namespace.
     */
    static void moveHere(String netns, List<Nic> nics) throws IOException {
        inNamespace(netns, "moving " + nics, libc -> {
            for (Nic n : nics) {
                int tap = index(libc, n.tap());
                byte[] mac = mac(n.mac());
                int error = rtnetlink(libc, linkUp(tap), "bringing " + n.tap() + " up");
                if (error != 0) {
                    throw new IOException("bringing " + n.tap() + " up: " + Errno.text(-error));
                }
                pointAt(libc, tap, mac, "pointing " + n.bridge() + "'s entry of " + n.mac() + " at " + n.tap());
                sendFrames(libc, n.bridge(), List.of(n.mac()));
            }
        });
    }

    /** One tap of a copy that leaves: its name, and whether its bridge has a MAC address of its own. */
    record Leaving(String tap, boolean fixedBridge) {
    }

    /**
     * The guest's address leaves this host (a switchover's old copy, stopped for good): in network namespace
     * {@code netns} (empty: this node's own), the bridge forwards nothing to or from each tap any more. A tap whose
     * bridge has a MAC address of its own becomes a disabled port ({@code bridge link set state disabled}: no RCU
     * grace period to wait for); any other goes down and out of its bridge now ({@code ip link set nomaster down}), so
     * that the bridge's address, which may be the tap's, changes before the caller sends anything more rather than
     * under connections opened later. A tap that is gone already is skipped. Returns the taps done. Runs in a thread
     * of its own, which alone enters the namespace.
     */
    static List<String> leave(String netns, List<Leaving> taps) throws IOException {
        List<String> left = new ArrayList<>();
        inNamespace(netns, "taking " + taps + " out of their bridges", libc -> {
            for (Leaving t : taps) {
                int tap = libc.if_nametoindex(t.tap());
                if (tap == 0) {
                    continue;
                }
                String what = t.fixedBridge() ? "disabling bridge port " + t.tap()
                        : "taking " + t.tap() + " down and out of its bridge";
                int error = rtnetlink(libc, t.fixedBridge() ? portDisabled(tap) : linkDownWithoutMaster(tap), what);
                if (error != 0 && error != -ENODEV) {
                    throw new IOException(what + ": " + Errno.text(-error));
                }
                if (error == 0) {
                    left.add(t.tap());
                }
            }
        });
        return left;
    }

    /**
     * Sends one RARP per address in {@code macs} on {@code device} of network namespace {@code netns} (empty: this
     * node's own), in a thread of its own.
     */
    static void send(String netns, String device, List<String> macs) throws IOException {
        inNamespace(netns, "announcing " + macs + " on " + device,
                libc -> sendFrames(libc, device, macs));
    }

    /** Work done by a thread inside a network namespace. */
    @FunctionalInterface
    interface NamespaceWork {
        void run(LibC libc) throws IOException;
    }

    /**
     * Runs {@code work} in a thread of its own that alone enters network namespace {@code netns} (empty: this node's
     * own); a failure is thrown here, saying {@code what} failed.
     */
    static void inNamespace(String netns, String what, NamespaceWork work) throws IOException {
        AtomicReference<Exception> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                LibC libc = LibcLoader.load(what);
                if (!netns.isEmpty()) {
                    enter(libc, netns);
                }
                work.run(libc);
            } catch (IOException | RuntimeException e) {
                failure.set(e);
            }
        }, "romulus-announce");
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(what + " interrupted", e);
        }
        Exception e = failure.get();
        if (e != null) {
            throw new IOException(what + (netns.isEmpty() ? "" : " in " + netns) + " failed: " + e.getMessage(), e);
        }
    }

    /** Moves the calling thread, which then ends, into network namespace {@code netns}. */
    static void enter(LibC libc, String netns) throws IOException {
        int ns = libc.open("/run/netns/" + netns, O_RDONLY_CLOEXEC);
        if (ns < 0) {
            throw new IOException("no network namespace " + netns + ": " + Errno.text(LibcLoader.lastError()));
        }
        try {
            if (libc.setns(ns, CLONE_NEWNET) != 0) {
                throw new IOException("cannot enter network namespace " + netns + ": "
                        + Errno.text(LibcLoader.lastError()));
            }
        } finally {
            libc.close(ns);
        }
    }

    private static int index(LibC libc, String device) throws IOException {
        int index = libc.if_nametoindex(device);
        if (index == 0) {
            throw new IOException("no interface " + device + ": " + Errno.text(LibcLoader.lastError()));
        }
        return index;
    }

    private static byte[] mac(String mac) {
        byte[] m = HexFormat.ofDelimiter(":").parseHex(mac);
        if (m.length != 6) {
            throw new IllegalArgumentException("not a MAC address: " + mac);
        }
        return m;
    }

    private static void sendFrames(LibC libc, String device, List<String> macs) throws IOException {
        int fd = PacketSockets.open(libc, device, ETH_P_RARP, false);
        try (Memory frame = new Memory(FRAME_SIZE)) {
            for (String mac : macs) {
                frame.write(0, rarp(mac), 0, FRAME_SIZE);
                if (libc.send(fd, frame, FRAME_SIZE, 0) != FRAME_SIZE) {
                    throw new IOException("send on " + device + ": " + Errno.text(LibcLoader.lastError()));
                }
            }
        } finally {
            PacketSockets.closeLater(libc, fd);
        }
    }

    /** RTM_NEWLINK: interface {@code index} up. */
    static byte[] linkUp(int index) {
        ByteBuffer b = message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 16);
        b.put((byte) AF_UNSPEC).put((byte) 0).putShort((short) 0).putInt(index).putInt(IFF_UP).putInt(IFF_UP);
        return bytes(b);
    }

    /** RTM_NEWLINK: interface {@code index} down and out of its bridge, as {@code ip link set nomaster down}. */
    static byte[] linkDownWithoutMaster(int index) {
        ByteBuffer b = message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 16 + 8);
        b.put((byte) AF_UNSPEC).put((byte) 0).putShort((short) 0).putInt(index).putInt(0).putInt(IFF_UP);
        b.putShort((short) 8).putShort(IFLA_MASTER).putInt(0);
        return bytes(b);
    }

    /**
     * RTM_SETLINK of a bridge port: its state disabled (the bridge forwards nothing to or from it), as
     * {@code bridge link set dev #index state 0}.
     */
    static byte[] portDisabled(int index) {
        ByteBuffer b = message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, 16 + 12);
        b.put((byte) AF_BRIDGE).put((byte) 0).putShort((short) 0).putInt(index).putInt(0).putInt(0);
        b.putShort((short) 12).putShort((short) (NLA_F_NESTED | IFLA_PROTINFO));
        b.putShort((short) 5).putShort(IFLA_BRPORT_STATE).put(BR_STATE_DISABLED).put(new byte[3]);
        return bytes(b);
    }

    /** RTM_NEWNEIGH of a bridge port: the bridge forwards {@code mac} to port {@code index}, a learnt (aging) entry. */
    static byte[] forwardTo(int index, byte[] mac) {
        return forwardTo(index, mac, NUD_REACHABLE);
    }

    /**
     * Points the bridge's entry of {@code mac} at port {@code tap}: a learnt (aging) entry, which the bridge refuses
     * (EPERM) while the port is not forwarding yet (it comes up, and its carrier reaches the bridge, a moment after the
     * link is set up: the kernel's link watch batches that); retried for {@link #FORWARDING_WAIT_NANOS}, then made
     * static, which a port in any state takes (it goes with the tap when its QEMU ends).
     */
    private static void pointAt(LibC libc, int tap, byte[] mac, String what) throws IOException {
        long deadline = System.nanoTime() + FORWARDING_WAIT_NANOS;
        int error;
        while ((error = rtnetlink(libc, forwardTo(tap, mac, NUD_REACHABLE), what)) == -EPERM
                && System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(what + " interrupted", e);
            }
        }
        if (error == -EPERM) {
            error = rtnetlink(libc, forwardTo(tap, mac, NUD_NOARP), what + " (static)");
        }
        if (error != 0) {
            throw new IOException(what + ": " + Errno.text(-error));
        }
    }

    private static byte[] forwardTo(int index, byte[] mac, short state) {
        ByteBuffer b = message(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, 12 + 12);
        b.put((byte) AF_BRIDGE).put((byte) 0).putShort((short) 0).putInt(index).putShort(state)
                .put(NTF_MASTER).put((byte) 0);
        b.putShort((short) (4 + mac.length)).putShort(NDA_LLADDR).put(mac).put(new byte[2]);
        return bytes(b);
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return out;
    }

    /** A netlink message of {@code body} bytes after its 16-byte header, the header written, in host byte order. */
    private static ByteBuffer message(short type, int flags, int body) {
        ByteBuffer b = ByteBuffer.allocate(16 + body).order(ByteOrder.nativeOrder());
        b.putInt(16 + body).putShort(type).putShort((short) flags).putInt(1).putInt(0);
        return b;
    }

    /** Sends one rtnetlink request and reads its acknowledgement: returns its error, 0 or a negative errno. */
    private static int rtnetlink(LibC libc, byte[] request, String what) throws IOException {
        int fd = libc.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        if (fd < 0) {
            throw new IOException("socket(AF_NETLINK): " + Errno.text(LibcLoader.lastError()));
        }
        try (Memory out = new Memory(request.length); Memory in = new Memory(1024)) {
            out.write(0, request, 0, request.length);
            if (libc.send(fd, out, request.length, 0) != request.length) {
                throw new IOException(what + ": send: " + Errno.text(LibcLoader.lastError()));
            }
            long n = libc.recv(fd, in, 1024, 0);
            if (n < 20) {
                throw new IOException(what + ": no acknowledgement: " + Errno.text(LibcLoader.lastError()));
            }
            ByteBuffer reply = in.getByteBuffer(0, n).order(ByteOrder.nativeOrder());
            return reply.getShort(4) == NLMSG_ERROR ? reply.getInt(16) : 0;
        } finally {
            libc.close(fd);
        }
    }
}
