/*
 * libromulus-uffd.so: loaded into QEMU with LD_PRELOAD.
 *
 * Its constructor creates a userfaultfd in the host process (QEMU), enables
 * asynchronous write-protect tracking on it and parks it at a known descriptor
 * number (1000, or ROMULUS_UFFD_FD). The Romulus engine, a different process,
 * takes that descriptor with pidfd_open + pidfd_getfd, registers the guest RAM
 * mapping for write-protect and reads the written pages with the PAGEMAP_SCAN
 * ioctl on /proc/PID/pagemap. Nothing here ever reads the userfaultfd: with
 * UFFD_FEATURE_WP_ASYNC the kernel resolves write-protect faults by itself.
 *
 * On any failure it prints one line starting with "romulus-uffd:" to stderr,
 * leaves no descriptor behind and lets the host process run on untracked
 * (the engine then reports that the descriptor is missing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Debian 12's linux-libc-dev (6.1) lacks these; values from Linux 6.7+
 * include/uapi/linux/userfaultfd.h (struct uffdio_api feature bits).
 */
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define ROMULUS_UFFD_DEFAULT_FD 1000
#define TAG "romulus-uffd: "

/* Returns the target descriptor number, or -1 (after printing why) if ROMULUS_UFFD_FD is bad. */
static int target_fd(void)
{
    const char *env = getenv("ROMULUS_UFFD_FD");
    if (env == NULL || *env == '\0')
        return ROMULUS_UFFD_DEFAULT_FD;
    char *end = NULL;
    errno = 0;
    long value = strtol(env, &end, 10);
    if (errno != 0 || end == env || *end != '\0' || value < 3 || value > INT_MAX) {
        fprintf(stderr, TAG "ROMULUS_UFFD_FD=\"%s\" is not a descriptor number >= 3; dirty-page tracking disabled\n", env);
        return -1;
    }
    return (int) value;
}

/*
 * Creates a userfaultfd and enables the given features on it.
 * Returns the descriptor, or -1 with errno set; *step names what failed.
 */
static int open_uffd(uint64_t features, const char **step)
{
    *step = "userfaultfd()";
    int fd = (int) syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == EPERM) {
        /*
         * Unprivileged with vm.unprivileged_userfaultfd=0: only user-mode faults may
         * be handled. Harmless for WP_ASYNC, which the kernel resolves before it
         * would ever deliver a fault to a handler.
         */
        fd = (int) syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    }
    if (fd < 0)
        return -1;

    struct uffdio_api api;
    memset(&api, 0, sizeof(api));
    api.api = UFFD_API;
    api.features = features;
    *step = "UFFDIO_API";
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

__attribute__((constructor))
static void romulus_uffd_init(void)
{
    int saved_errno = errno;
    int target = target_fd();
    if (target < 0)
        goto out;

    if (fcntl(target, F_GETFD) != -1) {
        fprintf(stderr, TAG "descriptor %d is already in use; not replacing it, dirty-page tracking disabled "
                "(set ROMULUS_UFFD_FD to a free number)\n", target);
        goto out;
    }

    const char *step = NULL;
    const uint64_t wanted = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
    /* UFFDIO_API can be called only once per descriptor: a retry needs a fresh one. */
    int fd = open_uffd(wanted | UFFD_FEATURE_WP_HUGETLBFS_SHMEM, &step);
    if (fd < 0 && errno == EINVAL)
        fd = open_uffd(wanted, &step);
    if (fd < 0) {
        int err = errno;
        fprintf(stderr, TAG "%s failed: %s%s; dirty-page tracking disabled\n", step, strerror(err),
                err == EINVAL ? " (asynchronous write-protect needs Linux 6.7+)"
                : err == ENOSYS ? " (kernel built without CONFIG_USERFAULTFD)" : "");
        goto out;
    }

    if (fd != target) {
        if (dup3(fd, target, O_CLOEXEC) < 0) {
            int err = errno;
            close(fd);
            fprintf(stderr, TAG "dup3(%d, %d) failed: %s%s; dirty-page tracking disabled\n", fd, target, strerror(err),
                    err == EBADF ? " (descriptor number above RLIMIT_NOFILE?)" : "");
            goto out;
        }
        close(fd);
    }
out:
    errno = saved_errno;
}
