package io.romulus.netbuf.internal.netlink;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;

import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;
import io.romulus.support.linux.NativeCallException;

/**
 * The libc calls behind netlink sockets and network namespaces, in the domain's words; every failure is a
 * {@link NetlinkException} with the errno. Underneath is the support library's 1:1 JNA mapping of libc ({@link LibC}),
 * which keeps the C names. Get the instance with {@link #load()}, which fails with a clear message where JNA or libc
 * cannot be loaded.
 */
public final class LinuxNetlink {

    // include/uapi/asm-generic/fcntl.h (x86-64, arm64)
    static final int O_RDONLY = 0;
    static final int O_CLOEXEC = 02000000;
    // include/uapi/linux/sched.h
    static final int CLONE_NEWNET = 0x40000000;

    private static final Object LOCK = new Object();
    private static volatile LinuxNetlink instance;

    private final LibC libc;

    private LinuxNetlink(LibC libc) {
        this.libc = libc;
    }

    /** Loads libc through JNA (once). */
    public static LinuxNetlink load() throws NativeCallException {
        LinuxNetlink result = instance;
        if (result != null) {
            return result;
        }
        synchronized (LOCK) {
            if (instance == null) {
                instance = new LinuxNetlink(LibcLoader.load("netlink output buffering"));
            }
            return instance;
        }
    }

    private static int lastError() {
        return LibcLoader.lastError();
    }

    /** {@code socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol)} in the calling thread's network namespace. */
    int netlinkSocket(int protocol) throws NetlinkException {
        int fd = libc.socket(Netlink.AF_NETLINK, Netlink.SOCK_RAW | Netlink.SOCK_CLOEXEC, protocol);
        if (fd < 0) {
            int errno = lastError();
            throw new NetlinkException("socket(AF_NETLINK)", errno, errno == Errno.EPROTONOSUPPORT
                    ? "netlink protocol " + protocol + " is not available in this kernel"
                            + (protocol == Netlink.NETLINK_NETFILTER ? " (CONFIG_NETFILTER_NETLINK)" : "")
                    : "cannot create a netlink socket for protocol " + protocol);
        }
        return fd;
    }

    /** {@code bind} to {@code sockaddr_nl{AF_NETLINK, 0, pid 0 (kernel assigns), groups 0}}; returns the port id. */
    int bindNetlink(int fd) throws NetlinkException {
        try (Memory addr = new Memory(Netlink.SOCKADDR_NL_SIZE)) {
            addr.clear();
            addr.setShort(0, (short) Netlink.AF_NETLINK);
            if (libc.bind(fd, addr, Netlink.SOCKADDR_NL_SIZE) != 0) {
                throw new NetlinkException("bind", lastError(), "cannot bind netlink socket " + fd);
            }
        }
        return netlinkPort(fd);
    }

    /** The port id of a bound netlink socket ({@code getsockname}). */
    int netlinkPort(int fd) throws NetlinkException {
        try (Memory addr = new Memory(Netlink.SOCKADDR_NL_SIZE); Memory len = new Memory(4)) {
            addr.clear();
            len.setInt(0, Netlink.SOCKADDR_NL_SIZE);
            if (libc.getsockname(fd, addr, len) != 0) {
                throw new NetlinkException("getsockname", lastError(), "cannot read netlink socket " + fd + "'s port");
            }
            if (addr.getShort(0) != Netlink.AF_NETLINK) {
                throw new NetlinkException("getsockname", Errno.EBADF, "descriptor " + fd + " is no netlink socket");
            }
            return addr.getInt(4);
        }
    }

    void setIntOption(int fd, int level, int name, int value, String what) throws NetlinkException {
        try (Memory v = new Memory(4)) {
            v.setInt(0, value);
            if (libc.setsockopt(fd, level, name, v, 4) != 0) {
                throw new NetlinkException("setsockopt", lastError(), "cannot set " + what + " on socket " + fd);
            }
        }
    }

    /** {@code SO_RCVTIMEO} with a {@code struct timeval} (two longs on 64-bit). */
    void setReceiveTimeout(int fd, long millis) throws NetlinkException {
        try (Memory tv = new Memory(16)) {
            tv.setLong(0, millis / 1000);
            tv.setLong(8, (millis % 1000) * 1000);
            if (libc.setsockopt(fd, Netlink.SOL_SOCKET, Netlink.SO_RCVTIMEO, tv, 16) != 0) {
                throw new NetlinkException("setsockopt", lastError(), "cannot set SO_RCVTIMEO on socket " + fd);
            }
        }
    }

    /** {@code send(fd, buf, len, 0)}; a short send is an error (netlink sends are all or nothing). */
    void send(int fd, Pointer buf, int len) throws NetlinkException {
        long n;
        do {
            n = libc.send(fd, buf, len, 0);
        } while (n < 0 && lastError() == Errno.EINTR);
        if (n < 0) {
            throw new NetlinkException("send", lastError(), "cannot send " + len + " bytes on netlink socket " + fd);
        }
        if (n != len) {
            throw new NetlinkException("send", 0, "netlink socket " + fd + " took " + n + " of " + len + " bytes");
        }
    }

    /**
     * {@code recv(fd, buf, capacity, 0)}: bytes received, 0 on {@code SO_RCVTIMEO} expiry or a signal; an
     * {@code ENOBUFS} (the kernel could not deliver some messages) is thrown with that errno.
     */
    int recv(int fd, Pointer buf, int capacity) throws NetlinkException {
        long n = libc.recv(fd, buf, capacity, 0);
        if (n < 0) {
            int errno = lastError();
            if (errno == Errno.EAGAIN || errno == Errno.EINTR) {
                return 0;
            }
            throw new NetlinkException("recv", errno, errno == Errno.ENOBUFS
                    ? "netlink socket " + fd + " overran its receive buffer; the kernel dropped messages"
                    : "cannot receive on netlink socket " + fd);
        }
        return (int) n;
    }

    void close(int fd) throws NetlinkException {
        if (libc.close(fd) != 0) {
            throw new NetlinkException("close", lastError(), "cannot close descriptor " + fd);
        }
    }

    /** Opens a namespace file ({@code /var/run/netns/NAME}, {@code /proc/thread-self/ns/net}). */
    int openNamespace(String path, String what) throws NetlinkException {
        int fd = libc.open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int errno = lastError();
            throw new NetlinkException("open", errno, errno == Errno.ENOENT
                    ? what + " does not exist (no " + path + ")"
                    : "cannot open " + what + " " + path);
        }
        return fd;
    }

    /** {@code setns(fd, CLONE_NEWNET)}: moves the calling thread (only) into the network namespace of {@code fd}. */
    void setNetworkNamespace(int fd, String what) throws NetlinkException {
        if (libc.setns(fd, CLONE_NEWNET) != 0) {
            int errno = lastError();
            throw new NetlinkException("setns(CLONE_NEWNET)", errno, errno == Errno.EPERM
                    ? "not allowed to enter " + what + " (needs CAP_SYS_ADMIN)"
                    : "cannot enter " + what);
        }
    }
}
