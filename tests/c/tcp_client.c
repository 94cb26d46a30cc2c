/* TCP client: `tcp_client PORT MESSAGE [6]` connects to 127.0.0.1:PORT (or [::1]:PORT), writes MESSAGE with write(),
 * shuts down its sending side, and prints everything read() gives back until end of stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "wasix.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tcp_client PORT MESSAGE [6]\n");
        return 2;
    }
    wx_fd s;
    wx_errno e;
    int v6 = argc > 3 && strcmp(argv[3], "6") == 0;
    uint16_t port = (uint16_t)atoi(argv[1]);
    if ((e = wx_sock_open(v6 ? WX_AF_INET6 : WX_AF_INET, WX_STREAM, WX_TCP, &s))) {
        printf("error sock_open %d\n", e);
        return 1;
    }
    wx_addr_port a = v6 ? wx_loopback6(port) : wx_loopback4(port);
    if ((e = wx_sock_connect(s, &a))) { printf("error sock_connect %d\n", e); return 1; }
    const char *msg = argv[2];
    size_t len = strlen(msg);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(s, msg + off, len - off);        /* fd_write on a socket */
        if (n < 0) { perror("write"); return 1; }
        off += (size_t)n;
    }
    if ((e = wx_sock_shutdown(s, WX_SHUT_WR))) { printf("error sock_shutdown %d\n", e); return 1; }
    printf("reply: ");
    for (;;) {
        char buf[1024];
        ssize_t n = read(s, buf, sizeof buf);               /* fd_read on a socket */
        if (n < 0) { perror("read"); return 1; }
        if (n == 0) break;
        fwrite(buf, 1, (size_t)n, stdout);
    }
    printf("\n");
    close(s);
    return 0;
}
