/* TCP echo server on 127.0.0.1: `tcp_server [port] [connections]`.
 * Prints "listening PORT" once ready, echoes each connection until the peer shuts down, then exits. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "wasix.h"

static int fail(const char *what, int e) {
    printf("error %s %d\n", what, e);
    return 1;
}

int main(int argc, char **argv) {
    uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 0;
    int conns = argc > 2 ? atoi(argv[2]) : 1;
    wx_fd s, c;
    wx_errno e;
    if ((e = wx_sock_open(WX_AF_INET, WX_STREAM, WX_TCP, &s))) return fail("sock_open", e);
    wx_addr_port a = wx_loopback4(port);
    if ((e = wx_sock_bind(s, &a))) return fail("sock_bind", e);
    if ((e = wx_sock_listen(s, 16))) return fail("sock_listen", e);
    wx_addr_port local;
    if ((e = wx_sock_addr_local(s, &local))) return fail("sock_addr_local", e);
    printf("listening %u\n", local.port);
    fflush(stdout);

    for (int i = 0; i < conns; i++) {
        wx_addr_port peer;
        if ((e = wx_sock_accept(s, 0, &c, &peer))) return fail("sock_accept", e);
        printf("accepted fd=%u from %u.%u.%u.%u\n", c, peer.addr[0], peer.addr[1], peer.addr[2], peer.addr[3]);
        fflush(stdout);
        unsigned long total = 0;
        for (;;) {
            char buf[4096];
            __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
            uint32_t n = 0;
            uint16_t roflags = 0;
            if ((e = wx_sock_recv(c, &iov, 1, 0, &n, &roflags))) return fail("sock_recv", e);
            if (n == 0) break;                      /* peer shut down its side */
            for (uint32_t off = 0; off < n;) {
                __wasi_ciovec_t out = {(const uint8_t *)buf + off, n - off};
                uint32_t sent = 0;
                if ((e = wx_sock_send(c, &out, 1, 0, &sent))) return fail("sock_send", e);
                off += sent;
            }
            total += n;
        }
        printf("echoed %lu bytes\n", total);
        fflush(stdout);
        close(c);
    }
    close(s);
    return 0;
}
