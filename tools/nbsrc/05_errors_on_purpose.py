from make_notebooks import code, md

NAME = "05-errors-on-purpose"
REQUIRES = ["wasix_32v1.sock_open", "wasix_32v1.sock_bind", "wasix_32v1.sock_connect"]

FALLBACK = r'''
%%wasix -n dual ARGS
(module
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; memory map: 0 fd | 8 nwritten | 16 iovec | 1024.. messages
  (data (i32.const 1024) "using IPv6\n")                          ;; 11 bytes
  (data (i32.const 1040) "no IPv6 here, falling back to IPv4\n")  ;; 35 bytes
  (data (i32.const 1088) "no socket at all, giving up\n")         ;; 28 bytes

  (func $print (param $buf i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $buf)) (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8))))

  (func (export "_start") (local $errno i32)
    ;; first choice: an IPv6 TCP socket
    (local.set $errno (call $sock_open (i32.const 2) (i32.const 1) (i32.const 0) (i32.const 0)))
    (if (i32.eqz (local.get $errno)) (then
      (call $print (i32.const 1024) (i32.const 11))
      (return)))
    ;; only "this family is not supported" has a plan B; any other error is fatal
    (if (i32.ne (local.get $errno) (i32.const 5)) (then     ;; 5 = AFNOSUPPORT
      (call $print (i32.const 1088) (i32.const 28))
      (call $proc_exit (local.get $errno))))
    (call $print (i32.const 1040) (i32.const 35))
    (local.set $errno (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))
    (if (local.get $errno) (then
      (call $print (i32.const 1088) (i32.const 28))
      (call $proc_exit (local.get $errno))))))
'''.strip("\n")

CARELESS = r'''
%%wasix -n careless ARGS
(module
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind" (func $sock_bind (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; memory map: 0, 4, 8 three fds | 32 address
  (data (i32.const 32) "\01\00\00\00\7f\00\00\01")      ;; 127.0.0.1, any port
  (func (export "_start")
    ;; open three UDP sockets, ignoring every errno ...
    (drop (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 0)))
    (drop (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 4)))
    (drop (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 8)))
    ;; ... then bind the three descriptors it believes it has
    (drop (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))
    (drop (call $sock_bind (i32.load (i32.const 4)) (i32.const 32)))
    (drop (call $sock_bind (i32.load (i32.const 8)) (i32.const 32)))))
'''.strip("\n")

POLICY = r'''
%%wasix -n outside --trace --no-raise-error --timeout 5 ARGS
(module
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_connect" (func $sock_connect (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 192.0.2.1 port 80 (0x0050): TEST-NET-1, an address reserved for documentation
  (data (i32.const 32) "\01\00\50\00\c0\00\02\01")
  (func (export "_start")
    (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))
    ;; exit with connect's errno: 0 if it had worked
    (call $proc_exit (call $sock_connect (i32.load (i32.const 0)) (i32.const 32)))))
'''.strip("\n")

CELLS = [
    md("""
    # 5 · Errors on purpose

    Real networks fail: descriptor limits run out, a machine has no IPv6, a firewall says no. Waiting for
    that to happen is slow, so the host can **inject** failures: with `--inject RULE` a matching call is
    *not performed*, and returns the errno you chose. Then you watch how the program copes.

    | rule | fails |
    | --- | --- |
    | `sock_open=MFILE` | every `sock_open` |
    | `sock_open#2=MFILE` | only the 2nd `sock_open` |
    | `sock_open:af=INET6=AFNOSUPPORT` | the `sock_open` calls whose `af` argument is `INET6` |
    | `fd_write=29` | every `fd_write`, with errno 29 (`IO`): names and numbers both work |

    `--inject` can be repeated. The trace marks each injected failure, so you can tell it from a real one.
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    md("""
    ## A program with a plan B

    This program prefers IPv6 and falls back to IPv4 when the family is not supported (`5 AFNOSUPPORT`).
    Any other error is fatal: it says so and exits with the errno as status. First, a normal run:
    """),
    code(FALLBACK.replace(" ARGS", "")),
    md("""
    Now pretend the machine has no IPv6. The rule matches only `sock_open` calls whose `af` is `INET6`, so
    the IPv4 call that follows still works:
    """),
    code(FALLBACK.replace("ARGS", "--trace --inject sock_open:af=INET6=AFNOSUPPORT")),
    md("""
    The trace line says `(injected by sock_open:af=INET6=AFNOSUPPORT)`, and the table holds one `INET`
    socket. Plan B worked.

    What if the program runs out of descriptors instead? `MFILE` is not an error this program has a plan
    for, so it gives up with exit status 33, and the cell fails (it is tagged `raises-exception`):
    """),
    code(FALLBACK.replace("ARGS", "--trace --inject sock_open=MFILE"), tags=["raises-exception"]),
    md("""
    ## A program without one

    Ignoring errors does not make them go away; it moves them. This program opens three sockets without
    looking at the errnos, then binds the descriptors it *thinks* it got. Run it with the 2nd `sock_open`
    failing:
    """),
    code(CARELESS.replace("ARGS", "--trace --inject sock_open#2=MFILE")),
    md("""
    Follow it in the trace:

    * the 2nd `sock_open` failed, so nothing was written at address 4: it still holds `0`;
    * the 3rd `sock_open` got **fd 4** (lowest free number), not 5;
    * the 2nd `sock_bind` was asked to bind **fd 0, standard input**, and failed with `57 NOTSOCK`.

    The program ended with status 0 and printed nothing: only the trace shows it misbehaved. The status line
    counts the errors, and pandas finds them:
    """),
    code("""
    calls = %wasix trace careless
    calls[calls.errno != 0][["seq", "syscall", "fd", "errno_name", "mark"]]
    """),
    md("""
    ## Descriptor limits for real

    Injection fakes a failure; `--fd-limit N` makes it real by capping the number of open descriptors
    (stdio included). The host enforces it before asking the OS for anything:
    """),
    code(CARELESS.replace("ARGS", "--trace --fd-limit 4")),
    md("""
    This time the 2nd and 3rd `sock_open` fail (one socket fits next to stdio), with **no** mark: the
    limit really was reached. Both later binds hit stdin.

    ## The network policy

    wasix_nb runs programs on real sockets, so it decides where they may go. The default policy is
    **loopback only**: `127.0.0.0/8`, `::1` and LOCAL sockets. A `connect` (or `send_to`) anywhere else fails
    with **`2 ACCES`** before any packet leaves the machine, and the trace says why. Binding and
    listening are not restricted.

    This program connects to 192.0.2.1, an address reserved for documentation (`--timeout 5` is only a
    safety net: if the connection were really attempted, nothing would answer):
    """),
    code(POLICY.replace(" ARGS", "")),
    code("""
    outside.exit_code
    """),
    md("""
    `--net` widens the policy for one cell: `--net any`, or an allow-list of networks, hosts and ports added
    to loopback, such as `--net 10.0.0.0/8,192.168.1.5:80,[fd00::1]:443`. The default for every cell can be
    changed with `%config WasixMagics.net = "…"`. (With `--net 192.0.2.0/24` the program above would really
    try to connect to 192.0.2.1, and wait: nothing answers there. Try it with `--timeout 3`.)

    A policy denial is a real errno the program sees, so the careful program pattern applies: check it.

    ## Imports the host lacks

    A program may import a call the host does not implement. That is found **before** it runs, and all
    missing imports are listed at once:
    """),
    code(r'''
    %%wasix
    (module
      ;; port_addr_add: WASIX's call to add an IP address to a virtual NIC; not offered by this host
      (import "wasix_32v1" "port_addr_add" (func $port_addr_add (param i32) (result i32)))
      (import "wasix_32v1" "proc_exit" (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (call $proc_exit (call $port_addr_add (i32.const 0)))))
    ''', tags=["raises-exception"]),
    md("""
    `--stub-missing` links each missing import as a stub that returns **`52 NOSYS`** ("function not
    implemented") and records the call, so you can see how far the program gets:
    """),
    code(r'''
    %%wasix --stub-missing --trace --no-raise-error
    (module
      (import "wasix_32v1" "port_addr_add" (func $port_addr_add (param i32) (result i32)))
      (import "wasix_32v1" "proc_exit" (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (call $proc_exit (call $port_addr_add (i32.const 0)))))
    '''),
    md("""
    ## Try this

    1. Inject `sock_open#1=AFNOSUPPORT` into the dual-stack program. Which socket does it end up with?
    2. Inject `sock_open=AFNOSUPPORT` (every call). What does plan B do when the fallback fails too?
    3. Change the careless program so that it stops at the first failed `sock_open`
       (`(if (call $sock_open ...) (then (call $proc_exit ...)))`) and rerun with the same rule.
    4. Inject `sock_bind=ADDRINUSE` into the echo server of notebook 3: what exit status do you get?
    5. Inject a failure into `fd_write` in the very first program of notebook 1. Does the cell notice?

    **Next:** [6 · tracing a real program](06-real-program.ipynb).
    """),
]
