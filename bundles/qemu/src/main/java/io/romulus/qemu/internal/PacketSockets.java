package io.romulus.qemu.internal;

import io.romulus.support.linux.LibC;

/**
 * What packet sockets need beyond libc: closing one waits for the kernel's RCU grace period ({@code synchronize_net}
 * in {@code packet_release}), 8 to 20 ms on this machine, which a switchover or failover must not wait for on its
 * way; {@link #closeLater} leaves it to a short-lived thread of its own (a descriptor belongs to the process, not to
 * the thread or network namespace that opened it).
 */
final class PacketSockets {

    private PacketSockets() {
    }

    /** Closes packet socket {@code fd} in the background. */
    static void closeLater(LibC libc, int fd) {
        Thread t = new Thread(() -> libc.close(fd), "romulus-packet-socket-close");
        t.setDaemon(true);
        t.start();
    }
}
