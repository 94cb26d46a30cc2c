from make_notebooks import code, md

NAME = "04-udp-ipv6-local-poll"
REQUIRES = ["wasix_32v1.sock_open", "wasix_32v1.sock_bind", "wasix_32v1.sock_addr_local",
            "wasix_32v1.sock_send_to", "wasix_32v1.sock_recv_from", "wasix_32v1.sock_listen",
            "wasix_32v1.sock_connect", "wasix_32v1.sock_accept", "wasix_32v1.sock_send",
            "wasix_32v1.sock_recv", "wasix_32v1.sock_pair", "wasix_32v1.poll_oneoff"]

# imports shared by the programs of this notebook (each cell lists only what it uses)
IMP = {
    "sock_open": '(import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))',
    "sock_bind": '(import "wasix_32v1" "sock_bind" (func $sock_bind (param i32 i32) (result i32)))',
    "sock_addr_local": '(import "wasix_32v1" "sock_addr_local" (func $sock_addr_local (param i32 i32) (result i32)))',
    "sock_send_to": ';; sock_send_to(fd, iovs, iovs_len, siflags, addr, -> nwritten)\n'
                    '  (import "wasix_32v1" "sock_send_to" (func $sock_send_to (param i32 i32 i32 i32 i32 i32) (result i32)))',
    "sock_recv_from": ';; sock_recv_from(fd, iovs, iovs_len, riflags, -> nread, -> roflags, -> sender address)\n'
                      '  (import "wasix_32v1" "sock_recv_from" (func $sock_recv_from (param i32 i32 i32 i32 i32 i32 i32) (result i32)))',
    "fd_write": '(import "wasix_32v1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))',
}


def imports(*names):
    return "\n  ".join(IMP[n] for n in names)


UDP = r'''
%%wasix -n udp --trace
(module
  IMPORTS
  (memory (export "memory") 1)
  ;; memory map: 0 fd a | 4 fd b | 8 nread | 12 roflags | 16 nwritten | 24 iovec
  ;;            32 bind address | 64 a's address | 96 sender's address | 1024 "ping" | 2048 buffer
  (data (i32.const 32) "\01\00\00\00\7f\00\00\01")     ;; INET, port 0, 127.0.0.1
  (data (i32.const 1024) "ping\n")

  ;; point the iovec at 24 to (buf, len)
  (func $iov (param $buf i32) (param $len i32)
    (i32.store (i32.const 24) (local.get $buf))
    (i32.store (i32.const 28) (local.get $len)))

  (func (export "_start")
    ;; a: a UDP socket bound to 127.0.0.1 and a port the OS picks
    (drop (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 0)))
    (drop (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))
    (drop (call $sock_addr_local (i32.load (i32.const 0)) (i32.const 64)))   ;; which port?
    ;; b: a second UDP socket, never bound: sending binds it to a free port
    (drop (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 4)))
    (call $iov (i32.const 1024) (i32.const 5))
    (drop (call $sock_send_to (i32.load (i32.const 4)) (i32.const 24) (i32.const 1) (i32.const 0)
                              (i32.const 64) (i32.const 16)))                 ;; b -> a: "ping"
    ;; a receives the datagram and learns who sent it
    (call $iov (i32.const 2048) (i32.const 1024))
    (drop (call $sock_recv_from (i32.load (i32.const 0)) (i32.const 24) (i32.const 1) (i32.const 0)
                                (i32.const 8) (i32.const 12) (i32.const 96)))
    ;; ... and answers the sender with the same bytes
    (call $iov (i32.const 2048) (i32.load (i32.const 8)))
    (drop (call $sock_send_to (i32.load (i32.const 0)) (i32.const 24) (i32.const 1) (i32.const 0)
                              (i32.const 96) (i32.const 16)))
    ;; b reads the answer and prints it
    (call $iov (i32.const 2048) (i32.const 1024))
    (drop (call $sock_recv_from (i32.load (i32.const 4)) (i32.const 24) (i32.const 1) (i32.const 0)
                                (i32.const 8) (i32.const 12) (i32.const 96)))
    (call $iov (i32.const 2048) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 24) (i32.const 1) (i32.const 16)))))
'''.strip("\n").replace("IMPORTS", imports("sock_open", "sock_bind", "sock_addr_local", "sock_send_to",
                                           "sock_recv_from", "fd_write"))

IPV6 = r'''
%%wasix -n tcp6 --trace
(module
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind" (func $sock_bind (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_addr_local" (func $sock_addr_local (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_connect" (func $sock_connect (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_accept" (func $sock_accept (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_recv" (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; memory map: 0 listener | 4 client | 8 server side | 12 nread | 14 roflags | 16 nwritten | 24 iovec
  ;;            32 bind address (28 bytes) | 64 listener's address | 96 peer address | 1024 text
  ;; addr_port for IPv6: tag 2, pad, port 0, then the 16 address bytes of ::1
  (data (i32.const 32) "\02\00\00\00" "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\01")
  (data (i32.const 1024) "hello over IPv6\n")

  (func (export "_start")
    (drop (call $sock_open (i32.const 2) (i32.const 1) (i32.const 0) (i32.const 0)))  ;; INET6 TCP: fd 3
    (drop (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))                  ;; [::1]:0
    (drop (call $sock_listen (i32.load (i32.const 0)) (i32.const 1)))
    (drop (call $sock_addr_local (i32.load (i32.const 0)) (i32.const 64)))
    ;; connect a second socket of the same program to the first
    (drop (call $sock_open (i32.const 2) (i32.const 1) (i32.const 0) (i32.const 4)))  ;; fd 4
    (drop (call $sock_connect (i32.load (i32.const 4)) (i32.const 64)))
    (drop (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 8) (i32.const 96)))  ;; fd 5
    ;; client -> server side, then print what arrived
    (i32.store (i32.const 24) (i32.const 1024)) (i32.store (i32.const 28) (i32.const 16))
    (drop (call $sock_send (i32.load (i32.const 4)) (i32.const 24) (i32.const 1) (i32.const 0) (i32.const 16)))
    (i32.store (i32.const 24) (i32.const 2048)) (i32.store (i32.const 28) (i32.const 1024))
    (drop (call $sock_recv (i32.load (i32.const 8)) (i32.const 24) (i32.const 1) (i32.const 0)
                           (i32.const 12) (i32.const 14)))
    (i32.store (i32.const 28) (i32.load (i32.const 12)))
    (drop (call $fd_write (i32.const 1) (i32.const 24) (i32.const 1) (i32.const 16)))))
'''.strip("\n")

LOCAL = r'''
%%wasix -n pair --trace
(module
  ;; sock_pair(af, socktype, proto, -> fd1, -> fd2): two sockets already connected to each other
  (import "wasix_32v1" "sock_pair" (func $sock_pair (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_recv" (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; memory map: 0 fd1 | 4 fd2 | 8 nread | 12 roflags | 16 nwritten | 24 iovec | 1024 text | 2048 buffer
  (data (i32.const 1024) "across a LOCAL socket pair\n")
  (func (export "_start")
    (drop (call $sock_pair (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 24) (i32.const 1024)) (i32.store (i32.const 28) (i32.const 27))
    (drop (call $sock_send (i32.load (i32.const 0)) (i32.const 24) (i32.const 1) (i32.const 0) (i32.const 16)))
    (i32.store (i32.const 24) (i32.const 2048)) (i32.store (i32.const 28) (i32.const 1024))
    (drop (call $sock_recv (i32.load (i32.const 4)) (i32.const 24) (i32.const 1) (i32.const 0)
                           (i32.const 8) (i32.const 12)))
    (i32.store (i32.const 28) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 24) (i32.const 1) (i32.const 16)))))
'''.strip("\n")

POLL = r'''
%%wasix -n poller --trace
(module
  IMPORTS
  ;; poll_oneoff(subscriptions, events, nsubscriptions, -> nevents)
  (import "wasix_32v1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; memory map: 0 fd | 8 nread | 12 roflags | 16 nwritten | 20 nevents | 24 iovec
  ;;   32 bind address | 64 our own address | 96 sender | 256 two subscriptions (48 bytes each)
  ;;   512 events (32 bytes each) | 1024.. texts | 2048 buffer
  (data (i32.const 32) "\01\00\00\00\7f\00\00\01")
  ;; subscription 1 at 256: userdata 1, tag 1 (fd_read), fd 3 at +16
  (data (i32.const 256) "\01\00\00\00\00\00\00\00" "\01\00\00\00\00\00\00\00" "\03\00\00\00")
  ;; subscription 2 at 304: userdata 2, tag 0 (clock), clock 1 (MONOTONIC) at +16,
  ;; timeout 200 ms = 200000000 ns (0x0bebc200) at +24, relative (flags 0)
  (data (i32.const 304) "\02\00\00\00\00\00\00\00" "\00\00\00\00\00\00\00\00" "\01\00\00\00\00\00\00\00"
                        "\00\c2\eb\0b\00\00\00\00")
  (data (i32.const 1024) "wake up\n")
  (data (i32.const 1040) "poll: the socket is readable\n")     ;; 29 bytes
  (data (i32.const 1072) "poll: 200 ms passed, nothing came\n") ;; 34 bytes

  (func $iov (param $buf i32) (param $len i32)
    (i32.store (i32.const 24) (local.get $buf)) (i32.store (i32.const 28) (local.get $len)))
  (func $print (param $buf i32) (param $len i32)
    (call $iov (local.get $buf) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 24) (i32.const 1) (i32.const 16))))
  (func $recv (result i32)   ;; one non-blocking receive; returns its errno
    (call $iov (i32.const 2048) (i32.const 1024))
    (call $sock_recv_from (i32.load (i32.const 0)) (i32.const 24) (i32.const 1) (i32.const 0)
                          (i32.const 8) (i32.const 12) (i32.const 96)))
  ;; wait for either subscription; say which one woke us (userdata of the first event)
  (func $wait
    (drop (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 2) (i32.const 20)))
    (if (i64.eq (i64.load (i32.const 512)) (i64.const 1))
      (then (call $print (i32.const 1040) (i32.const 29)))
      (else (call $print (i32.const 1072) (i32.const 34)))))

  (func (export "_start")
    ;; UDP | NONBLOCK (0x4000): calls that would wait fail with AGAIN instead
    (drop (call $sock_open (i32.const 1) (i32.const 0x4002) (i32.const 0) (i32.const 0)))
    (drop (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))
    (drop (call $sock_addr_local (i32.load (i32.const 0)) (i32.const 64)))
    (drop (call $recv))                 ;; nothing there yet: 6 AGAIN, at once
    (call $wait)                        ;; nothing arrives: the clock wins after 200 ms
    (call $iov (i32.const 1024) (i32.const 8))
    (drop (call $sock_send_to (i32.load (i32.const 0)) (i32.const 24) (i32.const 1) (i32.const 0)
                              (i32.const 64) (i32.const 16)))      ;; a datagram to ourselves
    (call $wait)                        ;; now the socket wins, immediately
    (drop (call $recv))
    (call $print (i32.const 2048) (i32.load (i32.const 8)))))
'''.strip("\n").replace("IMPORTS", imports("sock_open", "sock_bind", "sock_addr_local", "sock_send_to",
                                           "sock_recv_from", "fd_write"))

CELLS = [
    md("""
    # 4 · UDP, IPv6, LOCAL sockets, and waiting with `poll_oneoff`

    Notebook 3 used one kind of socket: IPv4 TCP. Here are the others, each in a single small program that
    talks **to itself** over loopback, so there is nothing to start in the background. Then we stop
    blocking: non-blocking sockets and `poll_oneoff`, the call that waits for several things at once.
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    md("""
    ## UDP: datagrams with an address on each

    A UDP (`DGRAM`) socket has no connection. `sock_send_to` names the destination with every datagram,
    and `sock_recv_from` reports who sent each one, as an `addr_port` written to memory.

    The trick that keeps the program short: `sock_addr_local` writes a socket's own address in exactly the
    format `sock_send_to` wants, so socket *b* can send to socket *a* without us ever decoding the port.
    And *a* answers whoever wrote, using the sender address `sock_recv_from` gave it.
    """),
    code(UDP),
    md("""
    Both sockets are `bound` but have no `peer`: with UDP nothing is connected. Socket 4 was never bound
    explicitly; its first `sock_send_to` bound it to a free port on every address (`0.0.0.0`): that port is
    the sender address socket 3 saw.
    The `outs` of `sock_recv_from` in the trace show it.

    ## IPv6

    Same calls, another family: `af=2` and a longer address. An IPv6 `addr_port` has the tag 2, the port,
    then the 16 address bytes (`::1` is fifteen zeros and a one). This program connects two of its own TCP
    sockets: a listener, a client, and the socket `accept` returns for the server side.
    """),
    code(IPV6),
    md("""
    Three sockets, all `INET6`: fd 3 listens; fd 4 (the client) and fd 5 (the server side `accept`
    returned) are the two ends of one connection, so each one's `local` is the other's `peer`. Notice
    that fd 5 has the **same local port** as the listener: a TCP connection is identified by both ends.

    The connect worked without a second thread because the OS completes a loopback connection into the
    listener's *backlog*; `accept` only picks it up.

    ## LOCAL sockets

    `af=3` (LOCAL, Unix-domain) sockets never touch the network. `sock_pair` makes two that are already
    connected to each other, like a pipe that works in both directions:
    """),
    code(LOCAL),
    md("""
    The `peer` column says `pair fd …`: the two descriptors are each other's only possible peer.
    (A LOCAL socket can also `bind` to a path: the address is tag 3 followed by the NUL-terminated path
    at offset 2.)

    ## Not waiting: NONBLOCK, `AGAIN`, and `poll_oneoff`

    A blocking `recv` on an empty socket waits, maybe forever. Opening the socket with
    `SOCK_NONBLOCK` (`0x4000`, see notebook 2) changes that: the call returns **6 `AGAIN`** at once. A
    program then needs a way to *sleep until something happens*: `poll_oneoff` takes a list of
    **subscriptions** and returns when at least one fires, writing **events**.

    | subscription (48 bytes) | offset |   | event (32 bytes) | offset |
    | --- | --- | --- | --- | --- |
    | userdata (u64) | 0 | | userdata (u64) | 0 |
    | tag: 0 clock, 1 fd_read, 2 fd_write (u8) | 8 | | error (u16) | 8 |
    | fd, or clock id (u32) | 16 | | type (u8) | 10 |
    | clock: timeout in ns (u64) | 24 | | fd_read: bytes ready (u64) | 16 |
    | clock: precision (u64), flags (u16) | 32, 40 | | flags (u16): 1 = hang-up | 24 |

    The program subscribes to *"fd 3 is readable"* (userdata 1) and *"200 ms have passed"* (userdata 2).
    The first time nothing arrives, so the clock fires; then it sends a datagram to itself and polls again.
    """),
    code(POLL),
    md("""
    Read the trace from top to bottom:

    * `sock_recv_from` failed with `6 AGAIN` immediately: no data, and the socket may not wait.
    * The first `poll_oneoff` took about 200 ms (the duration in `<…>`): the clock subscription fired.
    * After the `sock_send_to`, the second `poll_oneoff` returned at once with the socket event, and the
      receive that follows succeeds.

    The `nonblock` flag is in the table. Even a socket opened without it can be switched later with
    `fd_fdstat_set_flags(fd, 4)`; that is how C programs' `fcntl(fd, F_SETFL, O_NONBLOCK)` arrives here.
    """),
    code("""
    calls = %wasix trace poller
    calls[calls.syscall.isin(["sock_recv_from", "poll_oneoff"])][["seq", "syscall", "errno_name", "dur_ns", "outs"]]
    """),
    md("""
    ## Try this

    1. In the UDP program, let *b* send **two** datagrams before *a* reads. Does `recv_from` merge them
       (as TCP would) or return one at a time?
    2. Give the UDP receive buffer only 2 bytes (`iov` length 2). What do `n` and `roflags` say?
       (`roflags=1` is `DATA_TRUNCATED`.)
    3. Make the IPv6 client connect to a port where nothing listens (change the port in the copied
       address). Which errno does `sock_connect` return?
    4. Change the poll timeout to 1 second and watch the duration in the trace change.
    5. Subscribe to `fd_write` (tag 2) on the UDP socket instead of `fd_read`. Why does it fire at once?

    **Next:** [5 · errors on purpose](05-errors-on-purpose.ipynb).
    """),
]
