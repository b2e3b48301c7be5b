package io.romulus.qemu.internal;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import com.sun.jna.Memory;
import com.sun.jna.ptr.IntByReference;

import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;

/**
 * What clients send a guest after its last pause here, which it never reads: kept from its taps while it is paused
 * for good, and sent again on the tap's bridge once the guest's MAC address has moved to another host.
 *
 * <p>At a planned switchover the old primary pauses the guest for its final checkpoint; the new primary moves the
 * guest's address to its own host only a few milliseconds later (at "prepare", after the final checkpoint's ACK).
 * What a client sends in between reaches the old tap, where the paused QEMU leaves it (or reads one frame into its
 * own queue and stops reading), and is lost when that QEMU stops: the client's TCP sends it again only after its
 * retransmission timeout (200 ms at least), which was half of the switchovers' blackouts.
 *
 * <p>{@link #open} opens, before that last pause, a packet socket on each tap (in the taps' network namespace), which
 * receives a copy of every frame the bridge sends towards the guest, segmentation-offload frames whole with their
 * virtio-net header ({@code PACKET_VNET_HDR}). {@link #pauseEnded} drops what came before the guest stopped (it may
 * have read that); {@link #take} then reads everything that came after, which the guest never saw: it is owed to
 * the new copy, not a duplicate. {@link #resend} sends it out of the tap's bridge, which forwards it where the address
 * is now (learnt from the new host's announcement; the old tap is gone with its QEMU).
 */
final class TapBacklog implements AutoCloseable {

    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVBUFFORCE = 33;
    private static final int PACKET_VNET_HDR = 15;
    private static final int MSG_DONTWAIT = 0x40;
    /** A packet socket's virtio-net header, in front of each frame read or sent. */
    static final int VNET_HDR = 10;
    private static final int VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
    /** Room for the largest frame: a 64 KiB offload frame and its header. */
    private static final int MAX_FRAME = 65_536 + VNET_HDR;
    /** What the kernel may keep for a socket meanwhile: the few milliseconds of a switchover, with room to spare. */
    private static final int RECEIVE_BUFFER = 4 << 20;

    /** The frames kept from one tap, each with its 10-byte virtio-net header in front. */
    record Waiting(String tap, String bridge, List<byte[]> frames) {
        Waiting {
            frames = List.copyOf(frames);
        }
    }

    /** One tap's socket; frames from {@code mac} (the guest's own) are not kept. */
    private record Socket(String tap, String bridge, byte[] mac, int fd) {
    }

    private final LibC libc;
    private final List<Socket> sockets;

    private TapBacklog(LibC libc, List<Socket> sockets) {
        this.libc = libc;
        this.sockets = sockets;
    }

    /**
     * Starts keeping what the bridges send towards the guest on each of {@code taps} (paired with the bridge each is a
     * port of, where empty the tap is skipped, and with the guest's MAC address on it), in network namespace
     * {@code netns} (empty: this node's own).
     */
    static TapBacklog open(String netns, List<String> taps, List<String> bridges, List<String> macs)
            throws IOException {
        List<Socket> sockets = new ArrayList<>();
        LibC libc = LibcLoader.load("keeping what reaches a stopping guest");
        try {
            MacAnnouncement.inNamespace(netns, "opening packet sockets on " + taps, ns -> {
                for (int i = 0; i < taps.size(); i++) {
                    if (!bridges.get(i).isEmpty()) {
                        sockets.add(new Socket(taps.get(i), bridges.get(i),
                                HexFormat.ofDelimiter(":").parseHex(macs.get(i)), socketOn(ns, taps.get(i))));
                    }
                }
            });
        } catch (IOException | RuntimeException e) {
            sockets.forEach(s -> libc.close(s.fd()));
            throw e;
        }
        return new TapBacklog(libc, sockets);
    }

    private static int socketOn(LibC libc, String tap) throws IOException {
        int fd = PacketSockets.open(libc, tap, PacketSockets.ETH_P_ALL, true);
        try {
            PacketSockets.set(libc, fd, PacketSockets.SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR", tap);
            // root's; without it the default buffer does
            libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, new IntByReference(RECEIVE_BUFFER).getPointer(), 4);
            return fd;
        } catch (IOException | RuntimeException e) {
            PacketSockets.closeLater(libc, fd);
            throw e;
        }
    }

    /** The guest has stopped: what came before may have reached it, and is dropped. */
    void pauseEnded() {
        read(false);
    }

    /** Everything that came since {@link #pauseEnded}, which the guest never read; the sockets are closed. */
    List<Waiting> take() {
        List<Waiting> out = read(true);
        close();
        return out;
    }

    private List<Waiting> read(boolean keep) {
        List<Waiting> out = new ArrayList<>();
        try (Memory buf = new Memory(MAX_FRAME)) {
            for (Socket s : sockets) {
                List<byte[]> frames = new ArrayList<>();
                long n;
                while ((n = libc.recv(s.fd(), buf, MAX_FRAME, MSG_DONTWAIT)) > VNET_HDR) {
                    byte[] f = buf.getByteArray(0, (int) n);
                    if (keep && !fromGuest(f, s.mac())) {
                        frames.add(f);
                    }
                }
                out.add(new Waiting(s.tap(), s.bridge(), frames));
            }
        }
        return out;
    }

    /** Whether frame {@code f} (virtio-net header first) is the guest's own: its source address is the guest's. */
    static boolean fromGuest(byte[] f, byte[] mac) {
        return f.length >= VNET_HDR + 12 && Arrays.equals(f, VNET_HDR + 6, VNET_HDR + 12, mac, 0, 6);
    }

    @Override
    public void close() {
        sockets.forEach(s -> PacketSockets.closeLater(libc, s.fd()));
        sockets.clear();
    }

    /**
     * Sends every frame of {@code waiting} out of its bridge, in network namespace {@code netns} (empty: this node's
     * own); returns how many were sent.
     */
    static int resend(String netns, List<Waiting> waiting) throws IOException {
        int[] sent = new int[1];
        if (waiting.stream().allMatch(w -> w.frames().isEmpty())) {
            return 0;
        }
        MacAnnouncement.inNamespace(netns, "sending again what waited for a stopped guest", libc -> {
            for (Waiting w : waiting) {
                if (!w.frames().isEmpty()) {
                    sent[0] += send(libc, w);
                }
            }
        });
        return sent[0];
    }

    private static int send(LibC libc, Waiting w) throws IOException {
        int fd = PacketSockets.open(libc, w.bridge(), PacketSockets.ETH_P_ALL, false);
        int sent = 0;
        try (Memory buf = new Memory(MAX_FRAME)) {
            PacketSockets.set(libc, fd, PacketSockets.SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR", w.bridge());
            for (byte[] f : w.frames()) {
                int length = packetOf(f, buf);
                if (libc.send(fd, buf, length, 0) == length) {
                    sent++;
                }
            }
        } finally {
            PacketSockets.closeLater(libc, fd);
        }
        return sent;
    }

    /**
     * Writes into {@code buf} what is sent for frame {@code f} as it was received: its virtio-net header with only
     * "needs checksum" kept of the flags ("data valid" is the receiving side's), then the frame. Returns its length.
     */
    static int packetOf(byte[] f, Memory buf) {
        buf.write(0, f, 0, f.length);
        buf.setByte(0, (byte) (f[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM));
        return f.length;
    }

    /** How many frames {@code waiting} holds in all. */
    static int count(List<Waiting> waiting) {
        return waiting.stream().mapToInt(w -> w.frames().size()).sum();
    }
}
