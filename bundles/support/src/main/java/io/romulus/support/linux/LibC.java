package io.romulus.support.linux;

import com.sun.jna.Library;
import com.sun.jna.Pointer;

/**
 * The libc functions the bundles call, mapped 1:1 through JNA: C names and C argument order, {@code size_t} and
 * {@code ssize_t} as {@code long} (64-bit only), variadic C functions declared variadic. Only the classes that speak a
 * domain's words over it (netbuf's netlink layer, qemu's dirty trackers) use it; get it with {@link LibcLoader#load}.
 */
public interface LibC extends Library {

    int socket(int domain, int type, int protocol);

    int bind(int sockfd, Pointer addr, int addrlen);

    int getsockname(int sockfd, Pointer addr, Pointer addrlen);

    int setsockopt(int sockfd, int level, int optname, Pointer optval, int optlen);

    int getsockopt(int sockfd, int level, int optname, Pointer optval, Pointer optlen);

    long send(int sockfd, Pointer buf, long len, int flags);

    long recv(int sockfd, Pointer buf, long len, int flags);

    int open(String pathname, int flags, Object... mode);

    int close(int fd);

    int setns(int fd, int nstype);

    long syscall(long number, Object... args);

    int ioctl(int fd, long request, Object... args);

    Pointer mmap(Pointer addr, long length, int prot, int flags, int fd, long offset);

    int munmap(Pointer addr, long length);

    int getpagesize();

    int sched_setscheduler(int pid, int policy, Pointer param);

    int setpriority(int which, int who, int prio);

    int if_nametoindex(String ifname);

    int kill(int pid, int sig);
}
