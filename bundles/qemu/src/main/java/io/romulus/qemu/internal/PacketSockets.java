package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.ByteOrder;

import com.sun.jna.Memory;

import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;

/**
 * The binding's packet sockets ({@code AF_PACKET}), opened on one device of the calling thread's network namespace.
 * Closing one waits for the kernel's RCU grace period ({@code synchronize_net} in {@code packet_release}), 8 to 20
 * ms on this machine, which a switchover or failover must not wait for on its way: {@link #closeLater} leaves it to
 * a short-lived thread of its own (a descriptor belongs to the process, not to the thread or namespace that opened it).
 */
final class PacketSockets {

    static final int SOL_PACKET = 263;
    static final int ETH_P_ALL = 0x0003;
    private static final int AF_PACKET = 17;
    private static final int SOCK_RAW = 3;
    private static final int SOCKADDR_LL_SIZE = 20;

    private PacketSockets() {
    }

    /**
     * A packet socket bound to {@code device} for Ethernet type {@code protocol}: receiving frames of that type when
     * {@code receive}, else only for sending (frames it sends get {@code protocol} as their type where they have none).
     */
    static int open(LibC libc, String device, int protocol, boolean receive) throws IOException {
        return open(libc, device, protocol, receive ? Short.toUnsignedInt(network((short) protocol)) : 0, fd -> {
        });
    }

    /** What is set on a packet socket before it is bound. */
    @FunctionalInterface
    interface Setup {
        void set(int fd) throws IOException;
    }

    /**
     * A packet socket that receives nothing until {@code setup} (a filter, options) was applied to it, then is bound to
     * {@code device} for Ethernet type {@code protocol} (0: receiving nothing): no frame reaches it unfiltered.
     */
    static int openConfigured(LibC libc, String device, int protocol, Setup setup) throws IOException {
        return open(libc, device, protocol, 0, setup);
    }

    private static int open(LibC libc, String device, int protocol, int socketProtocol, Setup setup)
            throws IOException {
        int index = libc.if_nametoindex(device);
        if (index == 0) {
            throw new IOException("no interface " + device + ": " + Errno.text(LibcLoader.lastError()));
        }
        int fd = libc.socket(AF_PACKET, SOCK_RAW, socketProtocol);
        if (fd < 0) {
            throw new IOException("socket(AF_PACKET): " + Errno.text(LibcLoader.lastError()));
        }
        try (Memory addr = new Memory(SOCKADDR_LL_SIZE)) {
            setup.set(fd);
            addr.clear();
            addr.setShort(0, (short) AF_PACKET);
            addr.setShort(2, network((short) protocol));
            addr.setInt(4, index);
            if (libc.bind(fd, addr, SOCKADDR_LL_SIZE) != 0) {
                throw new IOException("bind to " + device + ": " + Errno.text(LibcLoader.lastError()));
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            closeLater(libc, fd);
            throw e;
        }
    }

    /** Sets integer option {@code option} of {@code level} on socket {@code fd} of {@code device}. */
    static void set(LibC libc, int fd, int level, int option, int value, String name, String device)
            throws IOException {
        try (Memory v = new Memory(4)) {
            v.setInt(0, value);
            if (libc.setsockopt(fd, level, option, v, 4) != 0) {
                throw new IOException(name + " on " + device + ": " + Errno.text(LibcLoader.lastError()));
            }
        }
    }

    /** {@code v} in network byte order, as a socket address's protocol field wants it. */
    static short network(short v) {
        return ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? Short.reverseBytes(v) : v;
    }

    /** Closes packet socket {@code fd} in the background. */
    static void closeLater(LibC libc, int fd) {
        Thread t = new Thread(() -> libc.close(fd), "romulus-packet-socket-close");
        t.setDaemon(true);
        t.start();
    }
}
