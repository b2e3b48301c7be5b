package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.sun.jna.Memory;

import io.romulus.qemu.internal.dirty.LinuxNative;
import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;

/**
 * What clients sent a guest that its QEMU never read: the frames waiting in the guest's taps once it is paused for
 * good, taken out and sent again on the tap's bridge after the guest's MAC address has moved to another host.
 *
 * <p>At a planned switchover the old primary pauses the guest for its final checkpoint; the new primary moves the
 * guest's address to its own host only a few milliseconds later (at "prepare", after the final checkpoint's ACK).
 * A paused QEMU reads nothing from its taps, so what a client sends in between waits in the old tap and, when that
 * QEMU stops, is lost with it: the client's TCP sends it again only after its retransmission timeout (200 ms at
 * least), which was half of the switchovers' blackouts. The new guest never saw these frames (N was taken with the
 * guest paused and QEMU read nothing after), so they are owed to it, not duplicates.
 *
 * <p>{@link #take} duplicates each tap's descriptor out of the stopped guest's QEMU ({@code pidfd_getfd}; the
 * descriptor is the one whose {@code /proc/PID/fdinfo} names the tap) and reads every frame waiting in it, with its
 * virtio-net header where the tap has one. {@link #resend} sends them, header and all ({@code PACKET_VNET_HDR}, so a
 * segmentation-offload frame goes as the kernel built it), out of the tap's bridge through a packet socket: the
 * bridge forwards them where the address is now, learnt from the new host's announcement (the old tap, gone with
 * its QEMU, no longer competes).
 */
final class TapBacklog {

    private static final int AF_PACKET = 17;
    private static final int SOCK_RAW = 3;
    private static final int SOL_PACKET = 263;
    private static final int PACKET_VNET_HDR = 15;
    private static final int SOCKADDR_LL_SIZE = 20;
    private static final short POLLIN = 1;
    /** {@code _IOR('T', 210, unsigned int)}: the tap's {@code ifreq}, flags at offset 16. */
    private static final long TUNGETIFF = 0x800454d2L;
    /** {@code _IOR('T', 215, int)}: the length of the virtio-net header that leads each frame read. */
    private static final long TUNGETVNETHDRSZ = 0x800454d7L;
    private static final int IFF_VNET_HDR = 0x4000;
    /** The virtio-net header a packet socket takes (without {@code num_buffers}, which a tap may add). */
    private static final int VNET_HDR = 10;
    private static final int VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
    /** Room for the largest frame a tap hands out: a 64 KiB offload frame and its header. */
    private static final int MAX_READ = 65_536 + 64;
    /** A tap holds at most its queue (500 frames by default); a bound on the reading in case QEMU still feeds it. */
    private static final int MAX_FRAMES = 4096;

    /** The frames taken from one tap, each with the tap's virtio-net header ({@code vnetHeader} bytes) in front. */
    record Waiting(String tap, String bridge, int vnetHeader, List<byte[]> frames) {
        Waiting {
            frames = List.copyOf(frames);
        }
    }

    private TapBacklog() {
    }

    /**
     * Reads what waits in each of {@code taps} (paired with the bridge each is a port of; empty: none, the tap is
     * skipped) of the QEMU with process id {@code pid}, which must no longer read them (its guest paused for good).
     */
    static List<Waiting> take(long pid, List<String> taps, List<String> bridges) throws IOException {
        List<Waiting> out = new ArrayList<>();
        LinuxNative os = LinuxNative.load();
        LibC libc = LibcLoader.load("taking the frames waiting for a stopped guest");
        int pidfd = os.pidfdOpen(pid);
        try {
            for (int i = 0; i < taps.size(); i++) {
                if (bridges.get(i).isEmpty()) {
                    continue;
                }
                for (int target : descriptorsOf(pid, taps.get(i))) {
                    int fd = os.pidfdGetfd(pidfd, pid, target);
                    try {
                        out.add(read(libc, fd, taps.get(i), bridges.get(i)));
                    } finally {
                        os.close(fd);
                    }
                }
            }
        } finally {
            os.close(pidfd);
        }
        return out;
    }

    /** The descriptors of process {@code pid} attached to {@code tap} (one per queue). */
    static List<Integer> descriptorsOf(long pid, String tap) throws IOException {
        List<Integer> fds = new ArrayList<>();
        Path fdinfo = Path.of("/proc", Long.toString(pid), "fdinfo");
        String line = "iff:\t" + tap;
        try (DirectoryStream<Path> all = Files.newDirectoryStream(fdinfo)) {
            for (Path p : all) {
                String info;
                try {
                    info = Files.readString(p, StandardCharsets.US_ASCII);
                } catch (IOException e) {
                    continue; // closed meanwhile
                }
                if (info.lines().anyMatch(line::equals)) {
                    fds.add(Integer.valueOf(p.getFileName().toString()));
                }
            }
        }
        if (fds.isEmpty()) {
            throw new IOException("process " + pid + " holds no descriptor of tap " + tap);
        }
        return fds;
    }

    private static Waiting read(LibC libc, int fd, String tap, String bridge) throws IOException {
        int header = 0;
        try (Memory ifreq = new Memory(40); Memory size = new Memory(4)) {
            ifreq.clear();
            if (libc.ioctl(fd, TUNGETIFF, ifreq) != 0) {
                throw new IOException("TUNGETIFF on " + tap + ": " + Errno.text(LibcLoader.lastError()));
            }
            if ((ifreq.getShort(16) & IFF_VNET_HDR) != 0) {
                if (libc.ioctl(fd, TUNGETVNETHDRSZ, size) != 0) {
                    throw new IOException("TUNGETVNETHDRSZ on " + tap + ": " + Errno.text(LibcLoader.lastError()));
                }
                header = size.getInt(0);
            }
        }
        List<byte[]> frames = new ArrayList<>();
        try (Memory pollfd = new Memory(8); Memory buf = new Memory(MAX_READ)) {
            while (frames.size() < MAX_FRAMES) {
                pollfd.setInt(0, fd);
                pollfd.setShort(4, POLLIN);
                pollfd.setShort(6, (short) 0);
                if (libc.poll(pollfd, 1, 0) <= 0 || (pollfd.getShort(6) & POLLIN) == 0) {
                    break; // nothing more waits (or the tap went away)
                }
                long n = libc.read(fd, buf, MAX_READ);
                if (n <= header) {
                    int errno = LibcLoader.lastError();
                    if (n < 0 && errno != Errno.EAGAIN && errno != Errno.EINTR) {
                        throw new IOException("reading " + tap + ": " + Errno.text(errno));
                    }
                    break;
                }
                frames.add(buf.getByteArray(0, (int) n));
            }
        }
        return new Waiting(tap, bridge, header, frames);
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
        int index = libc.if_nametoindex(w.bridge());
        if (index == 0) {
            throw new IOException("no bridge " + w.bridge() + ": " + Errno.text(LibcLoader.lastError()));
        }
        int fd = libc.socket(AF_PACKET, SOCK_RAW, 0);
        if (fd < 0) {
            throw new IOException("socket(AF_PACKET): " + Errno.text(LibcLoader.lastError()));
        }
        boolean vnet = w.vnetHeader() >= VNET_HDR;
        int sent = 0;
        try (Memory one = new Memory(4); Memory addr = new Memory(SOCKADDR_LL_SIZE);
                Memory buf = new Memory(MAX_READ)) {
            if (vnet) {
                one.setInt(0, 1);
                if (libc.setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, one, 4) != 0) {
                    throw new IOException("PACKET_VNET_HDR: " + Errno.text(LibcLoader.lastError()));
                }
            }
            addr.clear();
            addr.setShort(0, (short) AF_PACKET);
            addr.setInt(4, index);
            if (libc.bind(fd, addr, SOCKADDR_LL_SIZE) != 0) {
                throw new IOException("bind to " + w.bridge() + ": " + Errno.text(LibcLoader.lastError()));
            }
            for (byte[] f : w.frames()) {
                int length = packetOf(f, w.vnetHeader(), vnet, buf);
                if (libc.send(fd, buf, length, 0) == length) {
                    sent++;
                }
            }
        } finally {
            libc.close(fd);
        }
        return sent;
    }

    /**
     * Writes into {@code buf} what a packet socket sends for frame {@code f} read with a {@code header}-byte
     * virtio-net header: with {@code vnet} the packet socket's 10-byte header (only "needs checksum" kept of its
     * flags: "data valid" is the receiving side's) and the frame, else the frame alone. Returns its length.
     */
    static int packetOf(byte[] f, int header, boolean vnet, Memory buf) {
        if (!vnet) {
            buf.write(0, f, header, f.length - header);
            return f.length - header;
        }
        buf.write(0, f, 0, VNET_HDR);
        buf.setByte(0, (byte) (f[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM));
        buf.write(VNET_HDR, f, header, f.length - header);
        return VNET_HDR + f.length - header;
    }

    /** How many frames {@code waiting} holds in all. */
    static int count(List<Waiting> waiting) {
        return waiting.stream().mapToInt(w -> w.frames().size()).sum();
    }
}
