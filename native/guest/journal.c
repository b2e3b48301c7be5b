/*
 * romulus-journal: a durable-write service of the Romulus demo guest, for disk replication tests.
 *
 * Serves a line-based protocol on TCP, one client at a time:
 *   "w"       appends the record "SEQ RAND\n" to FILE, fdatasync()s it, and replies "durable SEQ RAND\n":
 *             once the client holds that reply, the record is on the guest's disk
 *   "seq"     replies the last sequence number written ("seq N\n")
 *   "unmount" syncs and unmounts the filesystem of FILE's directory, replies "unmounted\n" (or "error ...\n");
 *             later "w" fail
 *   "stream MS" starts a writer of its own (a child process) that appends "SEQ RAND\n" to MOUNTPOINT/stream with
 *             fdatasync every MS milliseconds, whatever the network does, and replies "streaming\n": its writes fill
 *             every epoch, so an epoch that never commits has some, unlike the client's, which wait for their replies
 *   "bench N K" writes N blocks of K KiB to MOUNTPOINT/bench, each followed by fdatasync(), and replies
 *             "bench N K TOTAL_US P50_US P99_US MAX_US\n": the guest's own view of its disk's write latency
 * SEQ counts from 1, continuing after the last record already in FILE when the service starts. RAND comes from
 * getrandom(): a guest that executes the same write twice (once in an epoch that never committed, once after a
 * failover) writes two different records, which is how a test sees a write of an uncommitted epoch on the backup.
 *
 * Usage: romulus-journal PORT FILE MOUNTPOINT
 *        romulus-journal --bench N K MOUNTPOINT   (one bench round, printed as "romulus-diskbench ..." on stdout)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* writes n blocks of kib KiB with fdatasync after each; fills buf with the reply */
static void bench(const char *mnt, int n, int kib, char *buf, size_t size) {
    char path[256];
    snprintf(path, sizeof path, "%s/bench", mnt);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *block = malloc((size_t)kib * 1024);
    long long *lat = malloc(sizeof(long long) * (size_t)n);
    if (fd < 0 || !block || !lat || n < 1 || kib < 1) {
        snprintf(buf, size, "error bench %s\n", fd < 0 ? strerror(errno) : "arguments");
        goto out;
    }
    long long start = now_us();
    for (int i = 0; i < n; i++) {
        memset(block, i & 0xff, (size_t)kib * 1024);
        long long t0 = now_us();
        if (write(fd, block, (size_t)kib * 1024) != (ssize_t)kib * 1024 || fdatasync(fd) != 0) {
            snprintf(buf, size, "error bench write %s\n", strerror(errno));
            goto out;
        }
        lat[i] = now_us() - t0;
    }
    long long total = now_us() - start;
    qsort(lat, (size_t)n, sizeof *lat, cmp_ll);
    snprintf(buf, size, "bench %d %d %lld %lld %lld %lld\n", n, kib, total, lat[n / 2], lat[(n * 99) / 100],
             lat[n - 1]);
out:
    if (fd >= 0)
        close(fd);
    free(block);
    free(lat);
}

static unsigned long long last_seq(const char *file) {
    FILE *f = fopen(file, "r");
    unsigned long long seq = 0, s, r;
    char line[128];
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%llu %llu", &s, &r) == 2)
            seq = s;
    fclose(f);
    return seq;
}

static pid_t streamer; /* the stream writer, once started */

/* the stream writer: never returns */
static void stream(const char *mnt, int ms) {
    char path[256], buf[64];
    snprintf(path, sizeof path, "%s/stream", mnt);
    unsigned long long seq = last_seq(path);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        _exit(1);
    for (;;) {
        unsigned long long rnd = 0;
        while (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
            ;
        int n = snprintf(buf, sizeof buf, "%llu %llu\n", seq + 1, rnd % 1000000000000ULL);
        if (write(fd, buf, (size_t)n) != n || fdatasync(fd) != 0)
            _exit(1);
        seq++;
        usleep((useconds_t)ms * 1000);
    }
}

static void reply(int fd, const char *text) {
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--bench") == 0) {
        char buf[160];
        bench(argv[4], atoi(argv[2]), atoi(argv[3]), buf, sizeof buf);
        printf("romulus-disk%s", buf);
        return strncmp(buf, "bench", 5) == 0 ? 0 : 1;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: romulus-journal PORT FILE MOUNTPOINT\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *file = argv[2], *mnt = argv[3];
    signal(SIGPIPE, SIG_IGN);
    unsigned long long seq = last_seq(file);
    int out = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (out < 0) {
        perror("romulus-journal: open");
        return 1;
    }
    int srv = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (bind(srv, (struct sockaddr *)&a, sizeof a) < 0 || listen(srv, 4) < 0) {
        perror("romulus-journal: listen");
        return 1;
    }
    fprintf(stderr, "romulus-journal: port %d, %s from seq %llu\n", port, file, seq);
    for (;;) {
        int c = accept(srv, NULL, NULL);
        if (c < 0)
            continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char in[256];
        size_t len = 0;
        for (;;) {
            ssize_t r = read(c, in + len, sizeof in - 1 - len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            len += (size_t)r;
            char *nl;
            while ((nl = memchr(in, '\n', len)) != NULL) {
                *nl = 0;
                if (nl > in && nl[-1] == '\r')
                    nl[-1] = 0;
                char buf[128];
                if (strcmp(in, "w") == 0) {
                    unsigned long long rnd = 0;
                    while (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                        ;
                    rnd %= 1000000000000ULL;
                    int n = snprintf(buf, sizeof buf, "%llu %llu\n", seq + 1, rnd);
                    if (out < 0 || write(out, buf, (size_t)n) != n || fdatasync(out) != 0) {
                        snprintf(buf, sizeof buf, "error %s\n", strerror(errno));
                    } else {
                        seq++;
                        snprintf(buf, sizeof buf, "durable %llu %llu\n", seq, rnd);
                    }
                } else if (strncmp(in, "stream ", 7) == 0) {
                    int ms = atoi(in + 7);
                    pid_t child = ms > 0 && streamer == 0 ? fork() : -1;
                    if (child == 0) {
                        close(c);
                        close(srv);
                        stream(mnt, ms);
                    }
                    if (child > 0)
                        streamer = child;
                    snprintf(buf, sizeof buf, child > 0 ? "streaming\n" : "error stream\n");
                } else if (strncmp(in, "bench ", 6) == 0) {
                    int n = 0, kib = 0;
                    sscanf(in + 6, "%d %d", &n, &kib);
                    bench(mnt, n, kib, buf, sizeof buf);
                } else if (strcmp(in, "seq") == 0) {
                    snprintf(buf, sizeof buf, "seq %llu\n", seq);
                } else if (strcmp(in, "unmount") == 0) {
                    if (out >= 0)
                        close(out);
                    out = -1;
                    if (streamer > 0) { /* the stream writer keeps its file open: it stops first */
                        kill(streamer, SIGKILL);
                        waitpid(streamer, NULL, 0);
                        streamer = 0;
                    }
                    sync();
                    if (umount(mnt) == 0)
                        snprintf(buf, sizeof buf, "unmounted\n");
                    else
                        snprintf(buf, sizeof buf, "error umount %s\n", strerror(errno));
                } else {
                    snprintf(buf, sizeof buf, "error unknown command\n");
                }
                reply(c, buf);
                size_t used = (size_t)(nl - in) + 1;
                memmove(in, nl + 1, len - used);
                len -= used;
            }
            if (len == sizeof in - 1)
                len = 0; /* an overlong line: forget it */
        }
        close(c);
    }
}
