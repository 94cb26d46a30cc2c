from make_notebooks import code, md

NAME = "06-real-program"
REQUIRES = ["wasix_32v1.sock_open", "wasix_32v1.sock_bind", "wasix_32v1.sock_listen",
            "wasix_32v1.sock_accept", "wasix_32v1.sock_addr_local", "wasix_32v1.sock_recv",
            "wasix_32v1.sock_send", "wasi_snapshot_preview1.fd_fdstat_get", "wasi_snapshot_preview1.fd_seek"]

C_SOURCE = r'''
%%writefile echo_server.c
/* echo_server.c: a TCP echo server for WASIX. Serves N clients (argv[1], default 3) on
 * 127.0.0.1, one after another, then exits. Debian's wasi-libc is plain WASI without sockets,
 * so the WASIX calls it needs are declared here by hand, as the ABI defines them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WASIX(name) __attribute__((import_module("wasix_32v1"), import_name(name)))

typedef struct {          /* addr_port: family tag, padding, port (a little-endian number), address */
    uint8_t tag, pad;
    uint16_t port;
    uint8_t addr[106];
} addr_port;

typedef struct { void *buf; uint32_t len; } iovec;

/* every call returns a WASI errno: 0 is success */
WASIX("sock_open")       uint16_t sock_open(uint32_t af, uint32_t type, uint32_t proto, uint32_t *fd);
WASIX("sock_bind")       uint16_t sock_bind(uint32_t fd, const addr_port *addr);
WASIX("sock_listen")     uint16_t sock_listen(uint32_t fd, uint32_t backlog);
WASIX("sock_addr_local") uint16_t sock_addr_local(uint32_t fd, addr_port *addr);
WASIX("sock_accept")     uint16_t sock_accept(uint32_t fd, uint32_t fdflags, uint32_t *conn, addr_port *peer);
WASIX("sock_recv")       uint16_t sock_recv(uint32_t fd, iovec *iovs, uint32_t n, uint32_t riflags,
                                            uint32_t *nread, uint16_t *roflags);
WASIX("sock_send")       uint16_t sock_send(uint32_t fd, const iovec *iovs, uint32_t n, uint32_t siflags,
                                            uint32_t *nwritten);

static void check(const char *what, uint16_t err) {
    if (err) {
        fprintf(stderr, "%s failed: errno %u\n", what, err);
        exit(err);
    }
}

int main(int argc, char **argv) {
    int clients = argc > 1 ? atoi(argv[1]) : 3;
    uint32_t server, conn;
    addr_port me = {.tag = 1, .addr = {127, 0, 0, 1}}, peer;     /* 127.0.0.1, port 0: any free port */

    check("sock_open", sock_open(1, 1, 6, &server));             /* INET, STREAM, TCP */
    check("sock_bind", sock_bind(server, &me));
    check("sock_listen", sock_listen(server, 16));
    check("sock_addr_local", sock_addr_local(server, &me));
    printf("listening on 127.0.0.1:%u, serving %d clients\n", me.port, clients);
    fflush(stdout);

    for (int i = 1; i <= clients; i++) {
        check("sock_accept", sock_accept(server, 0, &conn, &peer));
        unsigned long total = 0;
        char buf[1024];
        for (;;) {
            iovec in = {buf, sizeof buf};
            uint32_t n = 0, sent = 0;
            uint16_t flags = 0;
            if (sock_recv(conn, &in, 1, 0, &n, &flags) || n == 0)
                break;                                      /* error, or the client is done */
            for (uint32_t off = 0; off < n; off += sent) {  /* send may take fewer bytes */
                iovec out = {buf + off, n - off};
                if (sock_send(conn, &out, 1, 0, &sent)) break;
            }
            total += n;
        }
        printf("client %d from port %u: echoed %lu bytes\n", i, peer.port, total);
        fflush(stdout);
        close(conn);
    }
    close(server);
    return 0;
}
'''.strip("\n")

CELLS = [
    md("""
    # 6 · Tracing a real program

    The WAT programs so far were written for the host by hand. Real programs are compiled, and a C
    library runs code before `main` and after it. This notebook compiles a small **C echo server** to
    WebAssembly right here, runs it in the background, talks to it from Python, then analyses its trace
    with pandas and draws it as a timeline.

    The compiler is clang with Debian's `wasi-libc` (on Binder both come from `binder/apt.txt`).
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    code("""
    import pathlib
    import shutil
    import subprocess

    CLANG = shutil.which("clang")
    if CLANG:
        print(subprocess.run([CLANG, "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    else:
        print("clang is not installed, so this notebook cannot compile C here.\\n"
              "On Binder it comes from binder/apt.txt; on Debian or Ubuntu:\\n"
              "    apt-get install clang lld wasi-libc libclang-rt-dev-wasm32\\n"
              "The cells below still run: they use fallback/echo_server.wat, a WAT server that behaves the same.")
    """),
    md("""
    ## The program

    Ordinary C: `printf`, `atoi`, `close`, `exit` come from wasi-libc. What wasi-libc lacks are sockets, so the
    seven WASIX calls are declared with clang's `import_module` / `import_name` attributes, with the
    signatures and the `addr_port` layout from the ABI. The server binds 127.0.0.1 port 0 (the OS picks),
    prints the port, serves `argv[1]` clients and exits.
    """),
    code(C_SOURCE),
    md("""
    ## Compiling

    `--target=wasm32-wasi` makes a WASI program; the result imports the WASIX socket calls from
    `wasix_32v1` and the libc's needs (arguments, `fd_write`, `proc_exit`, …) from `wasi_snapshot_preview1`.
    If clang is missing or cannot build (no wasi-libc), the fallback WAT is used under the same file name.
    """),
    code("""
    import wasmtime

    built = False
    if CLANG:
        r = subprocess.run([CLANG, "--target=wasm32-wasi", "-O2", "-Wall", "echo_server.c", "-o", "echo_server.wasm"],
                           capture_output=True, text=True)
        built = r.returncode == 0
        print(f"compiled echo_server.c: {pathlib.Path('echo_server.wasm').stat().st_size} bytes" if built
              else "clang could not build it:\\n" + r.stderr)
    if not built:
        wat = pathlib.Path("fallback/echo_server.wat").read_text()
        pathlib.Path("echo_server.wasm").write_bytes(wasmtime.wat2wasm(wat))
        print("using fallback/echo_server.wat instead (it serves 3 clients)")

    for imp in wasmtime.Module.from_file(wasmtime.Engine(), "echo_server.wasm").imports:
        print(f"{imp.module:24} {imp.name}")
    """),
    md("""
    ## Running it

    `%wasix run FILE` runs a compiled module like a WAT cell; arguments for the program go after `--`.
    `--bg -n csrv` puts it in the background as `csrv`. We read its port from the descriptor table, as in
    notebook 3.
    """),
    code("""
    %wasix run echo_server.wasm --bg -n csrv -- 3
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

    address = wait_for(lambda: listening_address(csrv))
    address
    """),
    md("""
    Three clients with different habits: one short line; two big writes (bigger than the server's
    1024-byte buffer); five small lines sent with pauses. Each client closes its sending side
    (`shutdown(SHUT_WR)`) and reads the echo until the server closes the connection.
    """),
    code("""
    clients = {
        "short": [b"hi\\n"],
        "bulk": [b"a" * 3000, b"b" * 3000],
        "chatty": [b"line %d\\n" % i for i in range(5)],
    }
    for name, chunks in clients.items():
        with socket.create_connection(address) as c:
            for chunk in chunks:
                c.sendall(chunk)
                time.sleep(0.05)
            c.shutdown(socket.SHUT_WR)
            echoed = b""
            while part := c.recv(65536):
                echoed += part
        print(f"{name:7} sent {sum(map(len, chunks)):5} bytes, got {len(echoed):5} back")
    """),
    code("""
    result = csrv.wait(10)
    print(csrv.stdout_bytes.decode(), end="")
    csrv.status, csrv.exit_code
    """),
    md("""
    ## The trace as a DataFrame

    `csrv.trace` has one row per call: sequence number, start time and duration in ns, the call, its fd
    argument, the errno, and the decoded arguments and results.
    """),
    code("""
    calls = csrv.trace
    calls.head(12)
    """),
    md("""
    Not every row is a call we wrote. Before `main` runs, wasi-libc fetches the arguments
    (`args_sizes_get`, `args_get`); the first `printf` asks what kind of file stdout is (`fd_fdstat_get`)
    to choose its buffering, and each `fflush` becomes an `fd_write`; `close()` is `fd_close`. Everything
    that is not a socket call:
    """),
    code("""
    calls[~calls.syscall.astype(str).str.startswith("sock_")][["seq", "syscall", "fd", "outs"]]
    """),
    md("""
    ### Where did the time go?

    Group by call: the server spent almost all its life **blocked** in `sock_accept` (waiting for the next
    client) and `sock_recv` (waiting for the next bytes). Doing the work, sending and printing, is tiny.
    """),
    code("""
    by_call = (calls.groupby("syscall", observed=True)
                    .agg(calls=("seq", "size"), errors=("errno", lambda e: int((e != 0).sum())),
                         total_ms=("dur_ns", lambda d: d.sum() / 1e6))
                    .sort_values("total_ms", ascending=False))
    by_call.round(3)
    """),
    md("""
    ### One row per connection

    Every connection was **fd 4** (the lowest free number again), so the fd does not tell connections
    apart. Counting the `accept` calls does: each one starts a new connection.
    """),
    code("""
    calls["conn"] = calls.syscall.astype(str).str.startswith("sock_accept").cumsum()
    recvs = calls[calls.syscall == "sock_recv"]
    per_conn = recvs.groupby("conn").agg(
        recv_calls=("seq", "size"),
        bytes_in=("outs", lambda o: sum(x.get("n", 0) for x in o)),
        waiting_ms=("dur_ns", lambda d: d.sum() / 1e6),
    )
    per_conn.index = list(clients)
    per_conn.round(1)
    """),
    md("""
    The `bulk` client needed several `sock_recv` calls for its 6000 bytes because the server reads at most
    1024 bytes at a time; `chatty` needed one per line plus the final 0-byte read that means *done*.

    ## The timeline

    One lane per descriptor number, a bar from the call that opened it to the call that closed it. Lane 4
    shows the three connections one after another; lane 3 is the listening socket for the whole run.
    Failed calls would appear as red marks.
    """),
    code("""
    csrv.timeline()
    """),
    md("""
    ## Try this

    1. Run the server with `-- 5` and connect five clients. Does the per-connection table still line up?
    2. Shrink the buffer in the C source to 16 bytes, recompile, and rerun. What happens to `recv_calls`?
    3. Connect two clients **at the same time** (open both sockets, then send). Where does the second one
       wait, and what does the timeline show?
    4. Run the server with `--inject sock_accept_v2#2=CONNABORTED` (rules use the names the trace shows).
       The C code exits on any `accept` error: what do the status line and `csrv.stderr_bytes` say?
    5. Compare with the hand-written WAT server in `fallback/echo_server.wat`: which calls does only the C
       version make, and why?
    """),
]
