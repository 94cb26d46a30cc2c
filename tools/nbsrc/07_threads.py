from make_notebooks import code, md

NAME = "07-threads"
REQUIRES = ["wasix_32v1.thread_spawn", "wasix_32v1.sock_accept", "wasix_32v1.sock_recv",
            "wasix_32v1.sock_send", "wasix_32v1.futex_wait"]

CELLS = [
    md("""
    # 7 · Threads: a thread per connection

    Real servers give each client its own thread. Here is one in WAT: the main thread **accepts**
    connections and, for each, **spawns a thread** that echoes that client until it leaves. Every thread is
    its own WebAssembly instance over one **shared memory**, running in parallel in its own Python thread.

    Three things make this notebook different from the single-threaded echo server of notebook 3:

    - `thread_spawn(start_arg, -> tid)` starts a thread that runs the program's export
      `wasi_thread_start(tid, start_arg)`; here `start_arg` is the client's descriptor;
    - the memory is **imported and shared** (`(import "env" "memory" (memory 4 4 shared))`), so each
      thread keeps its buffers at its own place in memory (from `4096 + fd * 1024`);
    - `srv.threads` tells what **every thread is doing right now**: the question you ask when a threaded
      program hangs.
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    code(r'''
    %%wasix --bg -n srv
    (module
      (import "env" "memory" (memory 4 4 shared))
      (import "wasix_32v1" "thread_spawn" (func $thread_spawn (param i32 i32) (result i32)))
      (import "wasix_32v1" "sock_open"    (func $sock_open (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "sock_bind"    (func $sock_bind (param i32 i32) (result i32)))
      (import "wasix_32v1" "sock_listen"  (func $sock_listen (param i32 i32) (result i32)))
      (import "wasix_32v1" "sock_accept"  (func $sock_accept (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "sock_recv"    (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "sock_send"    (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_close"     (func $fd_close (param i32) (result i32)))
      (import "wasix_32v1" "proc_exit"    (func $proc_exit (param i32)))
      ;; memory map:  0 listening fd | 4 client fd | 8 new tid | 32 our address | 64 peer address
      ;;              4096 + fd * 1024: that connection's iovec, counters and buffer
      (data (i32.const 32) "\01\00\00\00\7f\00\00\01")    ;; INET, port 0, 127.0.0.1

      (func $ok (param $errno i32)
        (if (local.get $errno) (then (call $proc_exit (local.get $errno)))))

      ;; one connection, in its own thread: echo until the client leaves
      (func (export "wasi_thread_start") (param $tid i32) (param $fd i32)
        (local $at i32)
        (local.set $at (i32.add (i32.const 4096) (i32.mul (local.get $fd) (i32.const 1024))))
        (i32.store (local.get $at) (i32.add (local.get $at) (i32.const 32)))      ;; iovec.buf
        (block $gone (loop $echo
          (i32.store offset=4 (local.get $at) (i32.const 992))                   ;; iovec.len
          (br_if $gone (call $sock_recv (local.get $fd) (local.get $at) (i32.const 1) (i32.const 0)
                                        (i32.add (local.get $at) (i32.const 8))
                                        (i32.add (local.get $at) (i32.const 12))))
          (br_if $gone (i32.eqz (i32.load offset=8 (local.get $at))))             ;; 0 bytes: gone
          (i32.store offset=4 (local.get $at) (i32.load offset=8 (local.get $at)))
          (br_if $gone (call $sock_send (local.get $fd) (local.get $at) (i32.const 1) (i32.const 0)
                                        (i32.add (local.get $at) (i32.const 16))))
          (br $echo)))
        (drop (call $fd_close (local.get $fd))))

      ;; the main thread: accept, hand the connection to a new thread, accept again
      (func (export "_start")
        (call $ok (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))
        (call $ok (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))
        (call $ok (call $sock_listen (i32.load (i32.const 0)) (i32.const 16)))
        (loop $serve
          (call $ok (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 4) (i32.const 64)))
          (call $ok (call $thread_spawn (i32.load (i32.const 4)) (i32.const 8)))
          (br $serve))))
    '''),
    md("""
    The panel is live. Once clients connect it grows a **threads** section above the descriptors.

    ## Who is listening?
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
    srv.threads[["tid", "state", "calls", "started_by"]]
    """),
    md("""
    One thread so far: the main thread, **blocked in `sock_accept` on fd 3**, the listening socket.

    ## Three clients at once

    Each connection wakes the main thread, which spawns a thread for it and goes back to `accept`. The
    clients stay connected, so their threads stay alive, each **blocked in `sock_recv`** on its own
    descriptor:
    """),
    code("""
    clients = [socket.create_connection(address) for _ in range(3)]
    for i, c in enumerate(clients):
        c.sendall(f"hello from client {i}\\n".encode())
        print(c.recv(100))
    wait_for(lambda: srv.threads.state.str.startswith("blocked in sock_recv").sum() == 3)
    srv.threads[["tid", "state", "calls", "started_by"]]
    """),
    md("""
    `started_by` says which thread spawned each one, and with which call. The descriptor table shows the
    same story from the other side: fd 3 listening, one connected socket per client.
    """),
    code("""
    %wasix fds srv
    """),
    md("""
    ## One client leaves

    Closing a client makes its thread's `recv` return 0 bytes: that thread closes its descriptor and
    returns from `wasi_thread_start`, which ends **that thread only**.
    """),
    code("""
    clients[1].close()
    wait_for(lambda: srv.threads.state.str.startswith("exited").any())
    srv.threads[["tid", "state", "calls"]]
    """),
    md("""
    ## Every call says which thread made it

    The trace has a `tid` column (and the text trace a `[tid N]` prefix, like `strace -f`). Here are the
    calls of each thread, counted:
    """),
    code("""
    calls = srv.trace
    calls.groupby("tid").syscall.value_counts().unstack(fill_value=0)
    """),
    md("""
    ## Stopping it

    `%wasix kill srv` stops **every** thread — the one blocked in `accept` and the ones blocked in `recv` —
    and closes every socket, within a second.
    """),
    code("""
    %wasix kill srv
    wait_for(lambda: srv.status != "running")
    for c in clients:
        c.close()
    srv.threads[["tid", "state"]]
    """),
    md("""
    ## Try it

    - Add `(import "wasix_32v1" "thread_id" ...)` and make each thread greet its client with its tid.
    - Make a thread call `proc_exit` when a client sends `quit`: the whole process ends, every thread with it.
    - Comment out the `fd_close` in `wasi_thread_start` and watch the descriptor table fill up.
    """),
]
