from make_notebooks import code, md

NAME = "02-sock-open"

CELLS = [
    md("""
    # 2 · `sock_open` and the descriptor table

    Every network program starts the same way: it asks for a socket and gets back a small number, a
    **file descriptor**. In WASIX that call is

        sock_open(af, socktype, proto, ro_fd) -> errno

    It returns an *errno* (0 = success) and writes the new descriptor, a `u32`, to the address `ro_fd` in
    the program's memory. This notebook opens sockets of every kind, watches which numbers they get, and
    provokes every error `sock_open` can return.

    | argument | values |
    | --- | --- |
    | `af` (address family) | 1 `INET` (IPv4), 2 `INET6`, 3 `LOCAL` (Unix). Careful: **not** Linux's `AF_INET = 2`. |
    | `socktype` | 1 `STREAM` (TCP), 2 `DGRAM` (UDP), 3 `RAW`, 4 `SEQPACKET`; OR in `0x2000` CLOEXEC, `0x4000` NONBLOCK |
    | `proto` | 0 = the family's default, 6 = TCP, 17 = UDP |
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    md("""
    ## One socket of each family

    Three calls, each writing its descriptor to address 64 (we reuse the slot: the table is what we want to
    look at). The sockets are real OS sockets, opened by the Python host.
    """),
    code(r'''
    %%wasix -n kinds --trace
    (module
      ;; sock_open(af, socktype, proto, ro_fd) -> errno
      (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 64)))    ;; INET  STREAM -> TCP
        (drop (call $sock_open (i32.const 2) (i32.const 2) (i32.const 17) (i32.const 64)))   ;; INET6 DGRAM, UDP
        (drop (call $sock_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 64)))))  ;; LOCAL STREAM
    '''),
    md("""
    The first socket is **fd 3**: 0, 1 and 2 are stdio and wasix_nb preopens nothing else. (Wasmer preopens
    directories as 3–5, so there the first socket would be 6.) Each row says what the socket is: family,
    type, protocol (`proto=0` became 6, TCP, for the stream; LOCAL sockets have none) and its state,
    `opened`: it exists but is not bound or connected to anything yet.

    The table shown is the one the program *left* when it ended (the host then closed those sockets for it).
    `%wasix fds NAME` gives the same table as a pandas DataFrame, at any time, for any named process:
    """),
    code("""
    %wasix fds kinds
    """),
    md("""
    ## Lowest free number

    POSIX has one rule for new descriptors: take the **lowest number not currently open**. So after closing
    a socket in the middle, the next `sock_open` gets that number back at once. `fd_close` frees a number.
    """),
    code(r'''
    %%wasix -n reuse --trace
    (module
      (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_close" (func $fd_close (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        ;; three TCP sockets: fds 3, 4, 5, stored at addresses 0, 4, 8
        (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))
        (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 4)))
        (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 8)))
        ;; close the middle one (the fd stored at address 4)
        (drop (call $fd_close (i32.load (i32.const 4))))
        ;; open a UDP socket: it takes the freed number 4, not 6
        (drop (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 12)))))
    '''),
    md("""
    Look at fd 4 in the table: it is now the `DGRAM` socket, and its `opened_seq` (the trace line that
    created it) is 4, the last call. The TCP socket that had number 4 is in the process's **history** of
    closed descriptors, with the sequence numbers of the calls that opened and closed it:
    """),
    code("""
    import pandas as pd
    pd.DataFrame(reuse.host.fds.history_rows())[["fd", "type", "state", "opened_seq", "closed_seq"]]
    """),
    md("""
    ## Every error, and its errno

    `sock_open` checks its arguments in a fixed order and returns the first problem as an errno, **creating
    nothing**. WASI numbers its errnos its own way (not Linux's): the trace shows both the number and the
    name.

    | check | example | errno |
    | --- | --- | --- |
    | unknown family (0 `UNSPEC` included) | `af=0`, `af=9` | 5 `AFNOSUPPORT` |
    | unknown type or unknown flag bit | `socktype=7`, `socktype=0x8001` | 28 `INVAL` |
    | type the host does not offer | `RAW` (3), `SEQPACKET` (4) | 58 `NOTSUP` |
    | protocol that does not fit | UDP (17) on a stream, TCP (6) on LOCAL | 66 `PROTONOSUPPORT` |
    | `ro_fd` outside memory | `ro_fd=0xfffffff0` | 21 `FAULT` |
    | too many open descriptors | `--fd-limit 4` (stdio + 1) | 33 `MFILE` |

    The program below makes each mistake once, then two good calls; the second good call runs into the
    descriptor limit we set with `--fd-limit 4`.
    """),
    code(r'''
    %%wasix -n errs --fd-limit 4 --trace
    (module
      (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func $try (param $af i32) (param $type i32) (param $proto i32) (param $ro_fd i32)
        (drop (call $sock_open (local.get $af) (local.get $type) (local.get $proto) (local.get $ro_fd))))
      (func (export "_start")
        (call $try (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 64))          ;; UNSPEC
        (call $try (i32.const 9) (i32.const 1) (i32.const 0) (i32.const 64))          ;; no family 9
        (call $try (i32.const 1) (i32.const 7) (i32.const 0) (i32.const 64))          ;; no type 7
        (call $try (i32.const 1) (i32.const 0x8001) (i32.const 0) (i32.const 64))     ;; unknown flag bit
        (call $try (i32.const 1) (i32.const 3) (i32.const 0) (i32.const 64))          ;; RAW
        (call $try (i32.const 1) (i32.const 4) (i32.const 0) (i32.const 64))          ;; SEQPACKET
        (call $try (i32.const 1) (i32.const 1) (i32.const 17) (i32.const 64))         ;; STREAM + UDP
        (call $try (i32.const 3) (i32.const 1) (i32.const 6) (i32.const 64))          ;; LOCAL + TCP
        (call $try (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0xfffffff0))  ;; ro_fd out of memory
        (call $try (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 64))          ;; fine: fd 3
        (call $try (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 64))))        ;; limit reached
    '''),
    md("""
    Only one socket was created, although eleven calls were made. The trace as a DataFrame makes a neat
    error table:
    """),
    code("""
    calls = %wasix trace errs
    calls[["seq", "args", "errno", "errno_name"]]
    """),
    md("""
    The status line counted the failures (`10 errors`), but the program itself ended with **status 0**: it dropped
    every errno. A real program must check each result; notebook 5 looks at how programs cope when
    `sock_open` fails.

    ## The CLOEXEC and NONBLOCK flags

    Two flag bits can be OR-ed into `socktype`:

    * `0x2000` **CLOEXEC**: close this descriptor if the process `exec`s another program, so the child does
      not inherit it. It is a property of the *descriptor* (the `flags` column shows `cloexec`), and
      `fd_fdflags_get` reports it as bit 1.
    * `0x4000` **NONBLOCK**: calls that would wait return `AGAIN` instead (notebook 4). It belongs to the
      socket: `fd_fdstat_get` reports it as fdflag 4.

    `fd_fdflags_set(fd, 0)` clears CLOEXEC again.
    """),
    code(r'''
    %%wasix -n flags --trace
    (module
      (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_fdflags_get" (func $fd_fdflags_get (param i32 i32) (result i32)))
      (import "wasix_32v1" "fd_fdflags_set" (func $fd_fdflags_set (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $sock_open (i32.const 1) (i32.const 0x2001) (i32.const 0) (i32.const 0)))  ;; STREAM|CLOEXEC -> fd 3
        (drop (call $sock_open (i32.const 1) (i32.const 0x4002) (i32.const 0) (i32.const 4)))  ;; DGRAM|NONBLOCK -> fd 4
        (drop (call $sock_open (i32.const 2) (i32.const 0x6001) (i32.const 0) (i32.const 8)))  ;; both -> fd 5
        (drop (call $fd_fdflags_get (i32.const 3) (i32.const 16)))   ;; flags=1: CLOEXEC
        (drop (call $fd_fdflags_set (i32.const 5) (i32.const 0)))    ;; fd 5 keeps only NONBLOCK
        (drop (call $fd_fdflags_get (i32.const 5) (i32.const 16)))))
    '''),
    md("""
    ## Try this

    1. Close **stdin** (`fd_close(0)`) before the first `sock_open`. Which number does the socket get?
    2. Open 5 sockets, close fds 4 and 6, then open two more. Predict both numbers before running.
    3. In the error program, swap the checks: `af=0` **and** `socktype=3` in the same call. Which errno
       wins, and why?
    4. With `--fd-limit 3`, can the program open any socket at all?
    5. Make the program *use* an errno: `(call $proc_exit (call $sock_open ...))` exits with the errno
       (import `proc_exit` from `wasix_32v1`; add `--no-raise-error`).

    **Next:** [3 · a TCP echo server](03-tcp-echo-server.ipynb).
    """),
]
