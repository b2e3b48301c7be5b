/*
 * romulus-counter: the demo service of the Romulus guest image.
 *
 * A single-threaded poll() loop serving a line-based protocol on TCP:
 *   "get"        -> replies the current value of the global counter
 *   any other line (e.g. "inc") -> increments the counter, replies the new value
 * Each reply is the decimal value followed by "\n". Clients may keep the connection
 * open and send many lines; any number of clients (up to MAX_CLIENTS) are served at
 * once and share the one counter. A trailing "\r" is ignored.
 *
 * Usage: romulus-counter [PORT]   (default 7000)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define LINE_MAX_LEN 4096
#define OUT_MAX 65536

struct client {
    int fd;
    size_t inlen;
    char in[LINE_MAX_LEN];
    size_t outlen;
    char *out; /* pending replies not yet written */
};

static unsigned long long counter;
static struct client clients[MAX_CLIENTS];
static int nclients;

static void drop(int i) {
    close(clients[i].fd);
    free(clients[i].out);
    clients[i] = clients[--nclients];
    clients[nclients].out = NULL;
}

static int queue_reply(struct client *c, unsigned long long v) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu\n", v);
    if (c->outlen + (size_t)n > OUT_MAX)
        return -1; /* client does not read its replies: drop it */
    if (!c->out && !(c->out = malloc(OUT_MAX)))
        return -1;
    memcpy(c->out + c->outlen, buf, (size_t)n);
    c->outlen += (size_t)n;
    return 0;
}

static int flush_out(struct client *c) {
    while (c->outlen > 0) {
        ssize_t w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        memmove(c->out, c->out + w, c->outlen - (size_t)w);
        c->outlen -= (size_t)w;
    }
    return 0;
}

/* Handles the complete lines in c->in; returns -1 to drop the client. */
static int handle_lines(struct client *c) {
    size_t start = 0;
    for (size_t i = 0; i < c->inlen; i++) {
        if (c->in[i] != '\n') continue;
        size_t len = i - start;
        const char *line = c->in + start;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (len == 3 && memcmp(line, "get", 3) == 0) {
            if (queue_reply(c, counter) < 0) return -1;
        } else {
            if (queue_reply(c, ++counter) < 0) return -1;
        }
        start = i + 1;
    }
    if (start > 0) {
        memmove(c->in, c->in + start, c->inlen - start);
        c->inlen -= start;
    }
    if (c->inlen == sizeof c->in) { /* an over-long line counts as one line */
        c->inlen = 0;
        if (queue_reply(c, ++counter) < 0) return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7000;
    if (port <= 0 || port > 65535) port = 7000;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) { perror("romulus-counter: socket"); return 1; }
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                              .sin_addr.s_addr = htonl(INADDR_ANY) };
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("romulus-counter: bind"); return 1; }
    if (listen(lfd, 128) < 0) { perror("romulus-counter: listen"); return 1; }
    printf("romulus-counter: listening on tcp port %d\n", port);

    struct pollfd pfds[MAX_CLIENTS + 1];
    for (;;) {
        pfds[0].fd = lfd;
        pfds[0].events = nclients < MAX_CLIENTS ? POLLIN : 0;
        for (int i = 0; i < nclients; i++) {
            pfds[i + 1].fd = clients[i].fd;
            pfds[i + 1].events = POLLIN | (clients[i].outlen ? POLLOUT : 0);
            pfds[i + 1].revents = 0;
        }
        int n = poll(pfds, (nfds_t)nclients + 1, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("romulus-counter: poll");
            sleep(1);
            continue;
        }
        /* Serve existing clients first (walk backwards: drop() moves the last one into i). */
        int polled = nclients;
        for (int i = polled - 1; i >= 0; i--) {
            short re = pfds[i + 1].revents;
            if (!re) continue;
            struct client *c = &clients[i];
            int bad = 0;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
                if (r > 0) {
                    c->inlen += (size_t)r;
                    if (handle_lines(c) < 0) bad = 1;
                } else if (r == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    bad = 1;
                }
            }
            if (!bad && c->outlen && flush_out(c) < 0) bad = 1;
            if (bad) drop(i);
        }
        if (pfds[0].revents & POLLIN) {
            while (nclients < MAX_CLIENTS) {
                int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) break; /* EAGAIN, or a transient error: retry on next poll */
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                memset(&clients[nclients], 0, sizeof clients[nclients]);
                clients[nclients].fd = cfd;
                nclients++;
            }
        }
    }
}
