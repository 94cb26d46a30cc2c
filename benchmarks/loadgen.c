/* A small closed-loop load generator for benchmarks/real_servers.py (built on first use with cc).
 *
 *   loadgen HOST PORT SECONDS CONC [REQUEST]
 *
 * Keeps CONC connections in flight: connect, send REQUEST (if given), read until the reply's header
 * ends ("\r\n\r\n", when a request was sent) or the server closes, close, connect again.  Prints the
 * number of completed exchanges.  A Python client costs about as much CPU per connection as the
 * servers it measures, and on a 2-core machine it would set the pace instead of the server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn { int fd; int sent; size_t got; char buf[512]; };

static struct sockaddr_storage addr;
static socklen_t addrlen;
static const char *request;
static size_t reqlen;
static int ep;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void start(struct conn *c) {
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) { perror("socket"); exit(2); }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->sent = 0;
    c->got = 0;
    if (connect(c->fd, (struct sockaddr *)&addr, addrlen) < 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(2);
    }
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void finish(struct conn *c) {
    close(c->fd);      /* also removes it from the epoll set */
    start(c);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: loadgen HOST PORT SECONDS CONC [REQUEST]\n"); return 2; }
    int port = atoi(argv[2]), conc = atoi(argv[4]);
    double seconds = atof(argv[3]);
    request = argc > 5 ? argv[5] : NULL;
    reqlen = request ? strlen(request) : 0;
    memset(&addr, 0, sizeof addr);
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    if (inet_pton(AF_INET6, argv[1], &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6; a6->sin6_port = htons(port); addrlen = sizeof *a6;
    } else if (inet_pton(AF_INET, argv[1], &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET; a4->sin_port = htons(port); addrlen = sizeof *a4;
    } else { fprintf(stderr, "bad address %s\n", argv[1]); return 2; }
    ep = epoll_create1(0);
    struct conn *conns = calloc(conc, sizeof *conns);
    for (int i = 0; i < conc; i++) start(&conns[i]);
    long done = 0, failed = 0;
    double end = now() + seconds;
    struct epoll_event evs[64];
    while (now() < end) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLERR)) { failed++; finish(c); continue; }
            if (request && !c->sent && (evs[i].events & EPOLLOUT)) {
                if (send(c->fd, request, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen) { failed++; finish(c); continue; }
                c->sent = 1;
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (!request && (evs[i].events & EPOLLOUT) && !(evs[i].events & (EPOLLIN | EPOLLHUP))) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };   /* connected: wait for the close */
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP)) {
                ssize_t r = recv(c->fd, c->buf + c->got, sizeof c->buf - 1 - c->got, 0);
                if (r > 0) {
                    c->got += r;
                    c->buf[c->got] = 0;
                    if (request && strstr(c->buf, "\r\n\r\n")) {
                        if (strncmp(c->buf, "HTTP/1.1 200", 12) == 0) done++; else failed++;
                        finish(c);
                    } else if (c->got >= sizeof c->buf - 1) { failed++; finish(c); }
                    continue;
                }
                if (r < 0 && errno == EAGAIN) continue;
                if (!request && r == 0) done++;
                else failed++;
                finish(c);
            }
        }
    }
    printf("%ld %ld\n", done, failed);
    return 0;
}
