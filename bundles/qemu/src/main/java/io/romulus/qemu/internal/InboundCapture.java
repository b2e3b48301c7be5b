package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import com.sun.jna.Memory;

import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What reaches a guest's NICs while its QEMU is paused for good (a planned switchover's final pause, until the backup
 * moved the guest's MAC addresses to its host): a paused QEMU reads nothing from its taps, and what waits there is lost
 * when it ends. {@link #start} opens a packet socket on each tap that keeps only the frames the host sends into the
 * tap, towards the guest (a classic BPF filter on {@code pkttype == PACKET_OUTGOING}, attached before the socket is
 * bound, so nothing else is ever queued); they wait in the socket's buffer, nothing reads them meanwhile, and stay
 * there when the tap goes with its QEMU. {@link #take} reads them, each NIC's in the order they came, NIC after NIC, at
 * most {@link #MAX_FRAMES} frames and {@link #MAX_BYTES} bytes (the rest is dropped and counted in the log), and closes
 * the sockets in the background.
 * The guest's own address as a sender (the new host's announcement of it, flooded back here) is not kept.
 *
 * <p>What the host's own stack sent (a client in a namespace of this host, behind a veth) may come with its checksum
 * left to the device ({@code CHECKSUM_PARTIAL}: QEMU's tap takes that offload and tells the guest so): the sockets read
 * each frame with its virtio header ({@code PACKET_VNET_HDR}), and such a checksum is completed here, since the tap
 * that delivers the frame later is told nothing of it. A segmentation-offload frame (larger than the MTU) is not kept:
 * it cannot be sent as one frame, and its sender retransmits it as after any loss.
 *
 * <p>{@link #deliver} is the other end, on the new primary: each frame is sent on its NIC's tap with a packet socket.
 * Sending on a tap transmits towards its reader, the QEMU, i.e. into the guest; the host's bridge never sees the frame,
 * so no switch learns anything from it. While the guest is still paused the frames wait in the tap's queue.
 */
final class InboundCapture {

    private static final Logger LOG = LoggerFactory.getLogger(InboundCapture.class);
    /** The most frames kept: well under a tap's queue (500 frames), where they wait for a paused guest. */
    static final int MAX_FRAMES = 256;
    /** The most bytes kept. */
    static final int MAX_BYTES = 1 << 20;
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVBUF = 8;
    private static final int SO_ATTACH_FILTER = 26;
    private static final int SO_RCVBUFFORCE = 33;
    private static final int PACKET_STATISTICS = 6;
    private static final int PACKET_VNET_HDR = 15;
    /** {@code struct virtio_net_hdr}, before each frame read: flags, GSO type, lengths, where a checksum goes. */
    static final int VNET_HDR = 10;
    private static final int VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int ENETDOWN = 100;
    private static final int PACKET_OUTGOING = 4;
    /** The kernel's buffer of each socket: room for far more than {@link #MAX_FRAMES} frames with their overhead. */
    private static final int SOCKET_BUFFER = 4 << 20;
    /** Room for a frame as a tap may be sent it: up to 64 KiB with segmentation offloads. */
    private static final int FRAME_BUFFER = 128 * 1024;
    private static final int MAC_OFFSET = 6;
    private static final int MAC_BYTES = 6;
    /**
     * {@code ld pkttype; jeq #PACKET_OUTGOING, keep, drop; keep: ret #262144; drop: ret #0}, each instruction a
     * {@code struct sock_filter} ({@code u16 code, u8 jt, u8 jf, u32 k}).
     */
    private static final int[][] OUTGOING_ONLY = {
        {0x20, 0, 0, 0xfffff004}, // BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE
        {0x15, 0, 1, PACKET_OUTGOING}, // BPF_JMP | BPF_JEQ | BPF_K
        {0x06, 0, 0, 0x40000}, // BPF_RET | BPF_K: the whole frame
        {0x06, 0, 0, 0}, // BPF_RET | BPF_K: nothing
    };

    private final LibC libc;
    /** Each NIC's socket, in NIC order. */
    private final List<Integer> sockets;
    /** Each NIC's MAC address. */
    private final List<byte[]> macs;

    private InboundCapture(LibC libc, List<Integer> sockets, List<byte[]> macs) {
        this.libc = libc;
        this.sockets = sockets;
        this.macs = macs;
    }

    /**
     * Starts keeping what is sent into {@code taps} (the guest's NICs in order, whose MAC addresses are {@code macs})
     * of network namespace {@code netns} (empty: this node's own); returns once every socket is open.
     */
    static InboundCapture start(String netns, List<String> taps, List<String> macs) throws IOException {
        List<Integer> fds = new ArrayList<>();
        LibC libc = LibcLoader.load("keeping what reaches a paused guest");
        try {
            MacAnnouncement.inNamespace(netns, "keeping what reaches " + taps, l -> {
                for (String tap : taps) {
                    fds.add(openKeeping(l, tap));
                }
            });
        } catch (IOException e) {
            fds.forEach(fd -> PacketSockets.closeLater(libc, fd));
            throw e;
        }
        List<byte[]> addresses = new ArrayList<>();
        for (String mac : macs) {
            addresses.add(HexFormat.ofDelimiter(":").parseHex(mac));
        }
        return new InboundCapture(libc, List.copyOf(fds), addresses);
    }

    private static int openKeeping(LibC libc, String tap) throws IOException {
        return PacketSockets.openConfigured(libc, tap, PacketSockets.ETH_P_ALL, fd -> {
            attachOutgoingOnly(libc, fd, tap);
            try {
                PacketSockets.set(libc, fd, SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER, "SO_RCVBUFFORCE", tap);
            } catch (IOException e) {
                PacketSockets.set(libc, fd, SOL_SOCKET, SO_RCVBUF, SOCKET_BUFFER, "SO_RCVBUF", tap);
            }
            PacketSockets.set(libc, fd, PacketSockets.SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR", tap);
        });
    }

    private static void attachOutgoingOnly(LibC libc, int fd, String tap) throws IOException {
        try (Memory filter = new Memory(8L * OUTGOING_ONLY.length); Memory program = new Memory(16)) {
            for (int i = 0; i < OUTGOING_ONLY.length; i++) {
                int[] insn = OUTGOING_ONLY[i];
                filter.setShort(8L * i, (short) insn[0]);
                filter.setByte(8L * i + 2, (byte) insn[1]);
                filter.setByte(8L * i + 3, (byte) insn[2]);
                filter.setInt(8L * i + 4, insn[3]);
            }
            program.clear();
            program.setShort(0, (short) OUTGOING_ONLY.length);
            program.setPointer(8, filter);
            if (libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, program, 16) != 0) {
                throw new IOException("SO_ATTACH_FILTER on " + tap + ": " + Errno.text(LibcLoader.lastError()));
            }
        }
    }

    /**
     * The frames kept since {@link #start}, in the order they came, within the bounds; the sockets close (in the
     * background). Call it once.
     */
    List<InboundFrame> take() {
        List<InboundFrame> kept = new ArrayList<>();
        long bytes = 0;
        int dropped = 0;
        int own = 0;
        int segmented = 0;
        try (Memory buffer = new Memory(FRAME_BUFFER)) {
            for (int nic = 0; nic < sockets.size(); nic++) {
                int fd = sockets.get(nic);
                boolean tapGone = false;
                while (true) {
                    long n = libc.recv(fd, buffer, FRAME_BUFFER, MSG_DONTWAIT);
                    if (n < 0 && !tapGone && LibcLoader.lastError() == ENETDOWN) {
                        tapGone = true; // the tap went with its QEMU: said once, then what the socket kept is read
                        continue;
                    }
                    if (n <= VNET_HDR) {
                        break;
                    }
                    byte[] frame = frame(buffer.getByteArray(0, (int) n));
                    if (frame == null) {
                        segmented++;
                    } else if (fromGuest(frame, nic)) {
                        own++;
                    } else if (kept.size() >= MAX_FRAMES || bytes + frame.length > MAX_BYTES) {
                        dropped++;
                    } else {
                        kept.add(new InboundFrame(nic, frame));
                        bytes += frame.length;
                    }
                }
                dropped += kernelDrops(fd);
            }
        } finally {
            close();
        }
        if (dropped > 0 || own > 0 || segmented > 0) {
            LOG.info("Kept {} frames ({} bytes) that reached the paused guest; {} more dropped (over {} frames or {} "
                    + "bytes), {} of its own address and {} segmentation-offload frames not kept", kept.size(), bytes,
                    dropped, MAX_FRAMES, MAX_BYTES, own, segmented);
        } else {
            LOG.debug("Kept {} frames ({} bytes) that reached the paused guest", kept.size(), bytes);
        }
        return kept;
    }

    /**
     * The frame behind the virtio header {@code read} starts with, its checksum completed where the header says it was
     * left to the device; null for a segmentation-offload frame.
     */
    static byte[] frame(byte[] read) {
        ByteBuffer header = ByteBuffer.wrap(read, 0, VNET_HDR).order(ByteOrder.LITTLE_ENDIAN);
        int flags = header.get(0);
        if (header.get(1) != 0) {
            return null; // VIRTIO_NET_HDR_GSO_*
        }
        byte[] frame = Arrays.copyOfRange(read, VNET_HDR, read.length);
        if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0) {
            completeChecksum(frame, Short.toUnsignedInt(header.getShort(6)), Short.toUnsignedInt(header.getShort(8)));
        }
        return frame;
    }

    /**
     * Completes a checksum left to the device: the one's complement sum of {@code frame} from {@code start} on (the
     * checksum field holds the pseudo-header's sum), written at {@code start + offset}, as the kernel's
     * {@code skb_checksum_help} does.
     */
    static void completeChecksum(byte[] frame, int start, int offset) {
        int at = start + offset;
        if (at + 2 > frame.length) {
            return;
        }
        long sum = 0;
        for (int i = start; i < frame.length; i += 2) {
            sum += ((frame[i] & 0xff) << 8) | (i + 1 < frame.length ? frame[i + 1] & 0xff : 0);
        }
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        int checksum = (int) ~sum & 0xffff;
        frame[at] = (byte) (checksum >> 8);
        frame[at + 1] = (byte) checksum;
    }

    /** Whether {@code frame} has the guest's own address on NIC {@code nic} as its sender. */
    private boolean fromGuest(byte[] frame, int nic) {
        if (frame.length < MAC_OFFSET + MAC_BYTES || nic >= macs.size()) {
            return false;
        }
        byte[] mac = macs.get(nic);
        for (int i = 0; i < MAC_BYTES; i++) {
            if (frame[MAC_OFFSET + i] != mac[i]) {
                return false;
            }
        }
        return true;
    }

    /** Frames the kernel dropped for want of room in the socket's buffer ({@code PACKET_STATISTICS}). */
    private int kernelDrops(int fd) {
        try (Memory stats = new Memory(8); Memory length = new Memory(4)) {
            length.setInt(0, 8);
            return libc.getsockopt(fd, PacketSockets.SOL_PACKET, PACKET_STATISTICS, stats, length) == 0
                    ? stats.getInt(4) : 0;
        }
    }

    /** Stops keeping: the sockets, with what they kept, close in the background. */
    void close() {
        sockets.forEach(fd -> PacketSockets.closeLater(libc, fd));
    }

    /**
     * Sends each of {@code frames} on its NIC's tap of {@code taps} (in NIC order) in network namespace {@code netns}
     * (empty: this node's own), in order: towards the guest. Returns how many were sent; a frame of a NIC the guest
     * does not have, or one the tap does not take (larger than its MTU), is not.
     */
    static int deliver(String netns, List<String> taps, List<InboundFrame> frames) throws IOException {
        int[] sent = {0};
        int largest = frames.stream().mapToInt(f -> f.frame().length).max().orElse(0);
        if (largest == 0) {
            return 0;
        }
        MacAnnouncement.inNamespace(netns, "delivering " + frames.size() + " frames on " + taps, libc -> {
            Map<Integer, Integer> fds = new HashMap<>();
            try (Memory buffer = new Memory(largest)) {
                for (InboundFrame f : frames) {
                    if (f.nic() >= taps.size()) {
                        continue;
                    }
                    Integer fd = fds.get(f.nic());
                    if (fd == null) {
                        fd = PacketSockets.open(libc, taps.get(f.nic()), 0, false);
                        fds.put(f.nic(), fd);
                    }
                    buffer.write(0, f.frame(), 0, f.frame().length);
                    if (libc.send(fd, buffer, f.frame().length, 0) == f.frame().length) {
                        sent[0]++;
                    } else {
                        LOG.debug("A frame of {} bytes was not sent on {}: {}", f.frame().length,
                                taps.get(f.nic()), Errno.text(LibcLoader.lastError()));
                    }
                }
            } finally {
                fds.values().forEach(fd -> PacketSockets.closeLater(libc, fd));
            }
        });
        return sent[0];
    }
}
