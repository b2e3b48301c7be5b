package io.romulus.qemu.internal.dirty;

import static io.romulus.qemu.internal.dirty.KernelAbi.O_CLOEXEC;
import static io.romulus.qemu.internal.dirty.KernelAbi.O_NONBLOCK;

import com.sun.jna.Memory;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.nio.ByteBuffer;

import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;
import io.romulus.support.linux.NativeCallException;

/**
 * The Linux calls behind dirty-page tracking, in the domain's words: create and configure a userfaultfd,
 * take a descriptor from another process, write-protect a range, scan the pagemap. Every failure is a
 * {@link NativeCallException} that says what failed and with which errno.
 *
 * <p>Underneath is the support library's 1:1 JNA mapping of libc ({@link LibC}), which keeps the C names. Get the
 * instance with {@link #load()}; it fails with a clear message where JNA or libc cannot be loaded.
 */
public final class LinuxNative {

    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    static final int MAP_SHARED = 1;

    private static final long SYS_PIDFD_OPEN = 434; // same number on every architecture (>= 424 are unified)
    private static final long SYS_PIDFD_GETFD = 438;

    private static final Object LOCK = new Object();
    private static volatile LinuxNative instance;

    private final LibC libc;
    private final long sysUserfaultfd;

    private LinuxNative(LibC libc, long sysUserfaultfd) {
        this.libc = libc;
        this.sysUserfaultfd = sysUserfaultfd;
    }

    /** Loads libc through JNA (once). */
    public static LinuxNative load() throws NativeCallException {
        LinuxNative result = instance;
        if (result != null) {
            return result;
        }
        synchronized (LOCK) {
            if (instance == null) {
                long sysUserfaultfd;
                if (Platform.isIntel() && Platform.is64Bit()) {
                    sysUserfaultfd = 323; // arch/x86/entry/syscalls/syscall_64.tbl
                } else if (Platform.isARM() && Platform.is64Bit()) {
                    sysUserfaultfd = 282; // include/uapi/asm-generic/unistd.h
                } else if (!Platform.isLinux()) {
                    throw new NativeCallException("dlopen(libc)", 0,
                            "userfaultfd dirty-page tracking needs Linux; this is " + System.getProperty("os.name"));
                } else {
                    throw new NativeCallException("syscall(SYS_userfaultfd)", 0,
                            "userfaultfd dirty-page tracking supports x86-64 and arm64, not " + Platform.ARCH);
                }
                instance = new LinuxNative(LibcLoader.load("userfaultfd dirty-page tracking"), sysUserfaultfd);
            }
            return instance;
        }
    }

    /** The kernel's page size. */
    public int pageSize() {
        return libc.getpagesize();
    }

    private static int lastError() {
        return LibcLoader.lastError();
    }

    // ---- processes and descriptors ----

    /** {@code pidfd_open(pid, 0)}: a descriptor that names the process {@code pid}. */
    public int pidfdOpen(long pid) throws NativeCallException {
        long fd = libc.syscall(SYS_PIDFD_OPEN, pid, 0L);
        if (fd < 0) {
            int errno = lastError();
            String why = switch (errno) {
                case Errno.ESRCH -> "process " + pid + " does not exist";
                case Errno.ENOSYS -> "pidfd_open is not supported by this kernel (needs Linux 5.3+)";
                default -> "cannot open a pidfd for process " + pid;
            };
            throw new NativeCallException("pidfd_open", errno, why);
        }
        return (int) fd;
    }

    /** {@code pidfd_getfd(pidfd, targetFd, 0)}: a duplicate, in this process, of another process's descriptor. */
    public int pidfdGetfd(int pidfd, long pid, int targetFd) throws NativeCallException {
        long fd = libc.syscall(SYS_PIDFD_GETFD, (long) pidfd, (long) targetFd, 0L);
        if (fd < 0) {
            int errno = lastError();
            String why = switch (errno) {
                case Errno.EBADF -> "process " + pid + " has no descriptor " + targetFd
                        + " (was it started with LD_PRELOAD=libromulus-uffd.so? its stderr says why not)";
                case Errno.EPERM -> "not allowed to take descriptor " + targetFd + " of process " + pid
                        + " (needs ptrace rights over it: same user and kernel.yama.ptrace_scope=0, or CAP_SYS_PTRACE)";
                case Errno.ESRCH -> "process " + pid + " has exited";
                case Errno.ENOSYS -> "pidfd_getfd is not supported by this kernel (needs Linux 5.6+)";
                default -> "cannot take descriptor " + targetFd + " of process " + pid;
            };
            throw new NativeCallException("pidfd_getfd", errno, why);
        }
        return (int) fd;
    }

    /** Opens a file; {@code what} says what it is, for the message. */
    public int open(String path, int flags, String what) throws NativeCallException {
        int fd = libc.open(path, flags | O_CLOEXEC);
        if (fd < 0) {
            int errno = lastError();
            throw new NativeCallException("open", errno, "cannot open " + what + " " + path);
        }
        return fd;
    }

    /** Closes a descriptor; a failure is reported because it means the descriptor was not ours. */
    public void close(int fd) throws NativeCallException {
        if (libc.close(fd) != 0) {
            throw new NativeCallException("close", lastError(), "cannot close descriptor " + fd);
        }
    }

    /** {@code mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, fd, offset)}. */
    public Pointer mmapShared(int fd, long length, long offset) throws NativeCallException {
        Pointer p = libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
        if (Pointer.nativeValue(p) == -1L) {
            throw new NativeCallException("mmap", lastError(), "cannot map " + length + " bytes of descriptor " + fd);
        }
        return p;
    }

    public void munmap(Pointer address, long length) throws NativeCallException {
        if (libc.munmap(address, length) != 0) {
            throw new NativeCallException("munmap", lastError(), "cannot unmap " + length + " bytes at " + address);
        }
    }

    // ---- userfaultfd ----

    /**
     * Creates a userfaultfd in this process with asynchronous write-protect
     * ({@code WP_ASYNC | WP_UNPOPULATED}, plus {@code WP_HUGETLBFS_SHMEM} where the kernel accepts it): what the
     * preload library does inside QEMU, for trackers that run on memory of this JVM.
     */
    public int openAsyncWriteProtectUffd() throws NativeCallException {
        long wanted = KernelAbi.UFFD_FEATURE_WP_ASYNC | KernelAbi.UFFD_FEATURE_WP_UNPOPULATED;
        try {
            return openUffd(wanted | KernelAbi.UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
        } catch (NativeCallException e) {
            if (e.errno() != Errno.EINVAL) {
                throw e;
            }
            return openUffd(wanted); // UFFDIO_API works once per descriptor: openUffd takes a fresh one
        }
    }

    private int openUffd(long features) throws NativeCallException {
        long fd = libc.syscall(sysUserfaultfd, (long) (O_CLOEXEC | O_NONBLOCK));
        if (fd < 0 && lastError() == Errno.EPERM) {
            fd = libc.syscall(sysUserfaultfd, (long) (O_CLOEXEC | O_NONBLOCK | KernelAbi.UFFD_USER_MODE_ONLY));
        }
        if (fd < 0) {
            int errno = lastError();
            throw new NativeCallException("userfaultfd", errno, errno == Errno.ENOSYS
                    ? "userfaultfd is not supported by this kernel (CONFIG_USERFAULTFD)"
                    : "cannot create a userfaultfd");
        }
        int uffd = (int) fd;
        try (Memory arg = new Memory(KernelAbi.UFFDIO_API_SIZE)) {
            new KernelAbi.UffdioApi(KernelAbi.UFFD_API, features, 0).encode(view(arg));
            if (libc.ioctl(uffd, KernelAbi.UFFDIO_API, arg) != 0) {
                int errno = lastError();
                libc.close(uffd);
                throw new NativeCallException("ioctl(UFFDIO_API)", errno, errno == Errno.EINVAL
                        ? "the kernel refuses userfaultfd features 0x" + Long.toHexString(features)
                                + " (asynchronous write-protect needs Linux 6.7+)"
                        : "cannot configure the userfaultfd");
            }
        }
        return uffd;
    }

    /** {@code UFFDIO_REGISTER} with {@code UFFDIO_REGISTER_MODE_WP} over {@code [start, start+length)}. */
    public void registerWriteProtect(int uffd, long start, long length) throws NativeCallException {
        try (Memory arg = new Memory(KernelAbi.UFFDIO_REGISTER_SIZE)) {
            new KernelAbi.UffdioRegister(start, length, KernelAbi.UFFDIO_REGISTER_MODE_WP, 0).encode(view(arg));
            if (libc.ioctl(uffd, KernelAbi.UFFDIO_REGISTER, arg) != 0) {
                int errno = lastError();
                String range = range(start, length);
                throw new NativeCallException("ioctl(UFFDIO_REGISTER)", errno, errno == Errno.EINVAL
                        ? "cannot register " + range + " for write-protect: not page-aligned, not fully mapped, or"
                                + " its memory does not support userfaultfd write-protect (use shmem/tmpfs, not a"
                                + " regular file)"
                        : errno == Errno.EBUSY
                                ? "cannot register " + range + ": another userfaultfd already tracks it"
                                : "cannot register " + range + " for write-protect");
            }
        }
    }

    /** {@code UFFDIO_UNREGISTER} over {@code [start, start+length)}. */
    public void unregister(int uffd, long start, long length) throws NativeCallException {
        try (Memory arg = new Memory(KernelAbi.UFFDIO_RANGE_SIZE)) {
            new KernelAbi.UffdioRange(start, length).encode(view(arg));
            if (libc.ioctl(uffd, KernelAbi.UFFDIO_UNREGISTER, arg) != 0) {
                throw new NativeCallException("ioctl(UFFDIO_UNREGISTER)", lastError(),
                        "cannot unregister " + range(start, length));
            }
        }
    }

    /** {@code UFFDIO_WRITEPROTECT} with {@code UFFDIO_WRITEPROTECT_MODE_WP} over {@code [start, start+length)}. */
    public void writeProtect(int uffd, long start, long length) throws NativeCallException {
        try (Memory arg = new Memory(KernelAbi.UFFDIO_WRITEPROTECT_SIZE)) {
            new KernelAbi.UffdioWriteprotect(start, length, KernelAbi.UFFDIO_WRITEPROTECT_MODE_WP).encode(view(arg));
            if (libc.ioctl(uffd, KernelAbi.UFFDIO_WRITEPROTECT, arg) != 0) {
                throw new NativeCallException("ioctl(UFFDIO_WRITEPROTECT)", lastError(),
                        "cannot write-protect " + range(start, length));
            }
        }
    }

    /**
     * {@code ioctl(pagemapFd, PAGEMAP_SCAN, arg)}: {@code arg} holds an encoded {@code pm_scan_arg}.
     * Returns the number of {@code page_region}s the kernel wrote.
     */
    public int pagemapScan(int pagemapFd, Memory arg, long start, long end) throws NativeCallException {
        int n = libc.ioctl(pagemapFd, KernelAbi.PAGEMAP_SCAN, arg);
        if (n < 0) {
            int errno = lastError();
            String why = switch (errno) {
                case Errno.ENOTTY -> "PAGEMAP_SCAN is not supported by this kernel (needs Linux 6.7+)";
                case Errno.EPERM -> "PAGEMAP_SCAN found memory in " + range(start, end - start)
                        + " that is not registered for asynchronous write-protect";
                case Errno.EINVAL -> "PAGEMAP_SCAN rejected its arguments for " + range(start, end - start)
                        + " (kernel older than the 6.7 pm_scan_arg layout?)";
                default -> "PAGEMAP_SCAN over " + range(start, end - start) + " failed";
            };
            throw new NativeCallException("ioctl(PAGEMAP_SCAN)", errno, why);
        }
        return n;
    }

    /**
     * Whether this kernel has the {@code PAGEMAP_SCAN} ioctl (Linux 6.7+): one scan of an empty range of this
     * process's {@code /proc/self/pagemap}. A kernel without it answers {@code ENOTTY}; any other answer means the
     * ioctl exists.
     *
     * @return empty if it works, else why not
     */
    public java.util.Optional<String> probePagemapScan() {
        int fd;
        try {
            fd = open("/proc/self/pagemap", O_RDONLY, "this process's pagemap");
        } catch (NativeCallException e) {
            return java.util.Optional.of(e.getMessage());
        }
        try (Memory arg = new Memory(KernelAbi.PM_SCAN_ARG_SIZE)) {
            new KernelAbi.PmScanArg(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, KernelAbi.PAGE_IS_WRITTEN).encode(view(arg));
            int n = libc.ioctl(fd, KernelAbi.PAGEMAP_SCAN, arg);
            int errno = n < 0 ? lastError() : 0;
            return errno == Errno.ENOTTY ? java.util.Optional.of("this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7+; "
                    + "this is " + System.getProperty("os.version") + ")") : java.util.Optional.empty();
        } finally {
            libc.close(fd);
        }
    }

    /** A little-endian view of native memory, for the {@link KernelAbi} encoders. */
    static ByteBuffer view(Memory memory) {
        return memory.getByteBuffer(0, memory.size()).order(KernelAbi.ORDER);
    }

    private static String range(long start, long length) {
        return String.format("[0x%x, 0x%x)", start, start + length);
    }
}
