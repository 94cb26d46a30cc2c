/* The WASIX calls these test programs use, declared by hand (the Debian wasi-libc has no WASIX).
 * Numbers and layouts follow shared/wasix-abi.md: errno in WASI numbering, af 1 = INET,
 * addr_port = {u8 tag, u8 pad, u16 port (little-endian number), address bytes...}. */
#ifndef WASIX_H
#define WASIX_H
#include <stdint.h>
#include <wasi/api.h>

#define WASIX(name) __attribute__((import_module("wasix_32v1"), import_name(#name)))

typedef uint16_t wx_errno;
typedef uint32_t wx_fd;

enum { WX_AF_INET = 1, WX_AF_INET6 = 2 };
enum { WX_STREAM = 1, WX_DGRAM = 2 };
enum { WX_TCP = 6, WX_UDP = 17 };
enum { WX_SHUT_WR = 2 };

/* __wasi_addr_port_t: the host reads 28 bytes; the C struct is 110 */
typedef struct {
    uint8_t tag;
    uint8_t pad;
    uint16_t port;
    uint8_t addr[106];
} wx_addr_port;

typedef struct {
    uint8_t tag;                /* 0 none, 1 some */
    uint8_t pad[7];
    uint64_t ns;
} wx_option_timestamp;

typedef struct {
    uint32_t cols, rows, width, height;
    uint8_t stdin_tty, stdout_tty, stderr_tty, echo, line_buffered, line_feeds;
    uint8_t pad[2];
} wx_tty;

/* sockets */
WASIX(sock_open) wx_errno wx_sock_open(uint32_t af, uint32_t type, uint32_t proto, wx_fd *fd);
WASIX(sock_bind) wx_errno wx_sock_bind(wx_fd fd, const wx_addr_port *addr);
WASIX(sock_listen) wx_errno wx_sock_listen(wx_fd fd, uint32_t backlog);
/* in wasix_32v1, "sock_accept" is sock_accept_v2 (fd, fdflags, -> fd, -> peer address) */
WASIX(sock_accept) wx_errno wx_sock_accept(wx_fd fd, uint32_t fdflags, wx_fd *out, wx_addr_port *peer);
WASIX(sock_connect) wx_errno wx_sock_connect(wx_fd fd, const wx_addr_port *addr);
WASIX(sock_addr_local) wx_errno wx_sock_addr_local(wx_fd fd, wx_addr_port *addr);
WASIX(sock_recv) wx_errno wx_sock_recv(wx_fd fd, const __wasi_iovec_t *iovs, uint32_t n, uint32_t riflags,
                                       uint32_t *nread, uint16_t *roflags);
WASIX(sock_send) wx_errno wx_sock_send(wx_fd fd, const __wasi_ciovec_t *iovs, uint32_t n, uint32_t siflags,
                                       uint32_t *nwritten);
WASIX(sock_recv_from) wx_errno wx_sock_recv_from(wx_fd fd, const __wasi_iovec_t *iovs, uint32_t n,
                                                 uint32_t riflags, uint32_t *nread, uint16_t *roflags,
                                                 wx_addr_port *from);
WASIX(sock_send_to) wx_errno wx_sock_send_to(wx_fd fd, const __wasi_ciovec_t *iovs, uint32_t n,
                                             uint32_t siflags, const wx_addr_port *to, uint32_t *nwritten);
WASIX(sock_shutdown) wx_errno wx_sock_shutdown(wx_fd fd, uint32_t how);

/* process, threads, directory */
WASIX(getcwd) wx_errno wx_getcwd(char *buf, uint32_t *len);
WASIX(thread_id) wx_errno wx_thread_id(uint32_t *tid);
WASIX(thread_parallelism) wx_errno wx_thread_parallelism(uint32_t *n);
WASIX(futex_wait) wx_errno wx_futex_wait(uint32_t *futex, uint32_t expected, const wx_option_timestamp *timeout,
                                         uint8_t *woken);
WASIX(futex_wake) wx_errno wx_futex_wake(uint32_t *futex, uint8_t *woken);
WASIX(proc_id) wx_errno wx_proc_id(uint32_t *pid);
WASIX(tty_get) wx_errno wx_tty_get(wx_tty *tty);

/* 127.0.0.1:port */
static inline wx_addr_port wx_loopback4(uint16_t port) {
    wx_addr_port a = {0};
    a.tag = WX_AF_INET;
    a.port = port;
    a.addr[0] = 127; a.addr[3] = 1;
    return a;
}

/* [::1]:port */
static inline wx_addr_port wx_loopback6(uint16_t port) {
    wx_addr_port a = {0};
    a.tag = WX_AF_INET6;
    a.port = port;
    a.addr[15] = 1;
    return a;
}

#endif
