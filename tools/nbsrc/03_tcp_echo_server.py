from make_notebooks import code, md

NAME = "03-tcp-echo-server"
REQUIRES = ["wasix_32v1.sock_open", "wasix_32v1.sock_bind", "wasix_32v1.sock_listen",
            "wasix_32v1.sock_accept", "wasix_32v1.sock_recv", "wasix_32v1.sock_send"]

CELLS = [
    md("""
    # 3 · A TCP echo server you can poke at

    A server is five calls: **open** a socket, **bind** it to an address, **listen**, **accept** a
    connection (which gives a *new* descriptor), then **recv** and **send** on that new descriptor until the
    client goes away. This notebook runs such a server **in the background**, talks to it from Python in the
    next cells, and watches its descriptor table change as clients come and go.
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    md("""
    ## Addresses in memory

    `sock_bind(fd, addr)` reads an **`addr_port`** struct from the program's memory. For IPv4 it is 8 bytes:

    | offset | size | value here |
    | --- | --- | --- |
    | 0 | u8 | family tag: 1 = INET |
    | 1 | u8 | padding (0) |
    | 2 | u16 | port, a little-endian number: 0 = "any free port" |
    | 4 | 4 bytes | the address in network order: 127.0.0.1 |

    so the data segment `"\\01\\00\\00\\00\\7f\\00\\00\\01"` is *127.0.0.1, port 0*. Asking for port 0 lets the
    operating system pick a free port, so this notebook never collides with anything else on the machine;
    we will read the port it got from the descriptor table.

    ## The server

    Every call returns an errno. `$ok` turns a failure into `proc_exit(errno)`, so if something goes wrong the
    exit status *is* the errno. A client that disappears (`recv` returns 0 bytes, or an error) only ends
    that connection: the server closes the descriptor and goes back to `accept`.

    `--bg -n srv` starts the program in a background thread and returns at once; `srv` is the process.
    """),
    code(r'''
    %%wasix --bg -n srv
    (module
      (import "wasix_32v1" "sock_open"   (func $sock_open (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "sock_bind"   (func $sock_bind (param i32 i32) (result i32)))
      (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
      ;; sock_accept(fd, fdflags, -> new fd, -> peer address)
      (import "wasix_32v1" "sock_accept" (func $sock_accept (param i32 i32 i32 i32) (result i32)))
      ;; sock_recv(fd, iovs, iovs_len, riflags, -> nread, -> roflags)
      (import "wasix_32v1" "sock_recv"   (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
      ;; sock_send(fd, iovs, iovs_len, siflags, -> nwritten)
      (import "wasix_32v1" "sock_send"   (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_close"    (func $fd_close (param i32) (result i32)))
      (import "wasix_32v1" "proc_exit"   (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      ;; memory map:  0 listening fd | 4 client fd | 8 nread | 12 roflags | 16 nwritten
      ;;             32 our address  | 64 the client's address | 128 iovec | 1024.. buffer
      (data (i32.const 32) "\01\00\00\00\7f\00\00\01")    ;; INET, port 0, 127.0.0.1

      (func $ok (param $errno i32)
        (if (local.get $errno) (then (call $proc_exit (local.get $errno)))))

      (func (export "_start")
        (i32.store (i32.const 128) (i32.const 1024))                                          ;; iovec.buf
        (call $ok (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))  ;; TCP
        (call $ok (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))
        (call $ok (call $sock_listen (i32.load (i32.const 0)) (i32.const 8)))                 ;; backlog 8
        (loop $serve                                                 ;; one client after the other
          (call $ok (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 4) (i32.const 64)))
          (block $gone (loop $echo
            (i32.store (i32.const 132) (i32.const 4096))             ;; iovec.len: the whole buffer
            (br_if $gone (call $sock_recv (i32.load (i32.const 4)) (i32.const 128) (i32.const 1)
                                          (i32.const 0) (i32.const 8) (i32.const 12)))
            (br_if $gone (i32.eqz (i32.load (i32.const 8))))        ;; 0 bytes: the client is done
            (i32.store (i32.const 132) (i32.load (i32.const 8)))     ;; send back what came in
            (br_if $gone (call $sock_send (i32.load (i32.const 4)) (i32.const 128) (i32.const 1)
                                          (i32.const 0) (i32.const 16)))
            (br $echo)))
          (drop (call $fd_close (i32.load (i32.const 4))))           ;; this client's descriptor
          (br $serve))))
    '''),
    md("""
    The panel above is **live**: it updates while the server runs (in Binder, keep it in view while you
    run the next cells; when `%wasix kill` stops the server, the panel's saved copy gets the final tables).
    `srv.fds` is the same descriptor table as a DataFrame, read at the moment you ask.

    ## Which port did we get?

    `bind` with port 0 made the OS choose; the `local` column of the listening socket says which. The
    program may need a moment to get there, so we poll:
    """),
    code("""
    import socket
    import time

    def wait_for(check, timeout=10.0):
        \"\"\"Call check() until it returns something true; return that.\"\"\"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.05)
        raise TimeoutError("gave up waiting")

    def listening_address(proc):
        fds = proc.fds
        rows = fds[fds.state == "listening"]
        if len(rows):
            host, _, port = rows.local.iloc[0].rpartition(":")
            return host.strip("[]"), int(port)

    address = wait_for(lambda: listening_address(srv))
    address
    """),
    md("""
    ## A client from Python

    An ordinary Python socket connects to the WebAssembly server over loopback. We keep the connection
    open so we can look at the server while it is in the middle of a conversation.
    """),
    code("""
    client = socket.create_connection(address)
    client.sendall(b"hello, echo server\\n")
    client.recv(1024)
    """),
    code("""
    wait_for(lambda: (srv.fds.bytes_out > 0).any())    # the server's send has been counted
    %wasix fds srv
    """),
    md("""
    `accept` created **fd 4**, a second socket next to the listening fd 3. It is `connected`, its `peer` is
    our Python socket, and `bytes_in` / `bytes_out` count the echo. The listening socket never carries
    data: it only hands out new connections. Compare with Python's view of the same connection:
    """),
    code("""
    client.getsockname(), client.getpeername()
    """),
    md("""
    ## The client leaves

    Closing the Python socket makes the server's `recv` return 0 bytes; the server closes fd 4 and blocks
    in `accept` again. The table is back to one socket, and the closed descriptor moves to the history.
    """),
    code("""
    client.close()
    wait_for(lambda: 4 not in set(srv.fds.fd))
    %wasix fds srv
    """),
    md("""
    ## Several clients, one after another

    Each connection gets the **lowest free number** again, so every client is fd 4 in turn:
    """),
    code("""
    for word in [b"one", b"two", b"three"]:
        with socket.create_connection(address) as c:
            c.sendall(word)
            print(c.recv(100))
    """),
    md("""
    ## What went over the wire

    `srv.follow()` shows one connection's bytes, like a "follow stream" view: what the server received
    (red) and what it sent back (blue). It picks the most recent connection; `fd=`, `peer=` choose
    another, `hex=True` gives a hex dump. `srv.io` has every payload of every descriptor as a DataFrame.
    """),
    code("""
    srv.follow()
    """),
    md("""
    ## The trace

    `%wasix trace srv` gives every call so far as a DataFrame. Accept appears as `sock_accept_v2`: the
    import named `sock_accept` in `wasix_32v1` is the newer version that also returns the peer's address.
    It can take long: it *blocks* until a client arrives (the `dur_ns` column). The `--summary` form counts
    calls, like `strace -c`.
    """),
    code("""
    calls = %wasix trace srv
    calls[["seq", "syscall", "fd", "errno_name", "dur_ns", "outs"]]
    """),
    code("""
    %wasix trace srv --summary
    """),
    md("""
    ## Stopping it

    `%wasix ps` lists the processes of this kernel; `%wasix kill srv` stops the server, even while it is
    blocked in `accept`, and closes its sockets.
    """),
    code("""
    %wasix ps
    """),
    code("""
    %wasix kill srv
    wait_for(lambda: srv.status != "running")
    srv.status
    """),
    md("""
    The server's whole life in one picture: one lane per descriptor number, a bar from the call that
    opened it to the call that closed it. fd 3 listened all along; fd 4 was reused by each connection.
    """),
    code("""
    srv.timeline()
    """),
    code("""
    try:
        socket.create_connection(address, timeout=2)
    except ConnectionRefusedError as e:
        print("nobody listens any more:", e)
    """),
    md("""
    ## Try this

    1. Open **two** Python clients at once and send on the second first. When does it get its echo, and
       why? (The server handles one client at a time; the second waits in the *backlog*.)
    2. Send 10 000 bytes with `sendall` and read them back with repeated `recv`. How many `sock_recv`
       calls did the server make? (The buffer is 4096 bytes.)
    3. Change the port in the data segment to a fixed one, e.g. `"\\01\\00\\39\\1b..."` is 6969
       (0x1b39, little-endian). Start the server twice. What does the second one exit with?
    4. Replace `127.0.0.1` by `::1` and the tag by 2 (INET6): the address is then 16 bytes at offset 4, and
       `sock_open` needs `af=2`.

    **Next:** [4 · UDP, IPv6, LOCAL sockets and `poll_oneoff`](04-udp-ipv6-local-poll.ipynb).
    """),
]
