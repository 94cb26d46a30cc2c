/* Two UDP sockets on 127.0.0.1 talk to each other: a sends to b, b sees a's address and replies. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "wasix.h"

#define CHECK(call) do { wx_errno e_ = (call); if (e_) { printf("error %s %d\n", #call, e_); return 1; } } while (0)

static uint32_t send_to(wx_fd fd, const char *msg, const wx_addr_port *to) {
    __wasi_ciovec_t iov = {(const uint8_t *)msg, (uint32_t)strlen(msg)};
    uint32_t n = 0;
    wx_errno e = wx_sock_send_to(fd, &iov, 1, 0, to, &n);
    return e ? 0 : n;
}

static uint32_t recv_from(wx_fd fd, char *buf, uint32_t size, wx_addr_port *from) {
    __wasi_iovec_t iov = {(uint8_t *)buf, size - 1};
    uint32_t n = 0;
    uint16_t roflags = 0;
    if (wx_sock_recv_from(fd, &iov, 1, 0, &n, &roflags, from)) return 0;
    buf[n] = 0;
    return n;
}

int main(void) {
    wx_fd a, b;
    CHECK(wx_sock_open(WX_AF_INET, WX_DGRAM, WX_UDP, &a));
    CHECK(wx_sock_open(WX_AF_INET, WX_DGRAM, WX_UDP, &b));
    wx_addr_port any = wx_loopback4(0), la, lb, from;
    CHECK(wx_sock_bind(a, &any));
    CHECK(wx_sock_bind(b, &any));
    CHECK(wx_sock_addr_local(a, &la));
    CHECK(wx_sock_addr_local(b, &lb));

    char buf[256];
    uint32_t n = send_to(a, "ping", &lb);
    uint32_t got = recv_from(b, buf, sizeof buf, &from);
    printf("b got %u/%u bytes '%s' from port %s\n", got, n, buf, from.port == la.port ? "a" : "?");
    n = send_to(b, "pong", &from);
    got = recv_from(a, buf, sizeof buf, &from);
    printf("a got %u/%u bytes '%s' from port %s\n", got, n, buf, from.port == lb.port ? "b" : "?");
    close(a);
    close(b);
    return 0;
}
