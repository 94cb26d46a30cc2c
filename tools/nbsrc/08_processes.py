from make_notebooks import code, md

NAME = "08-processes"
REQUIRES = ["wasix_32v1.proc_fork", "wasix_32v1.proc_join", "wasix_32v1.proc_exec",
            "wasix_32v1.fd_renumber", "wasix_32v1.fd_pipe", "wasix_32v1.sock_accept"]

CELLS = [
    md("""
    # 8 · Processes: a forking server and a shell pipeline

    The classic lessons about sockets are lessons about processes. A **forking server** accepts a
    connection and calls `fork`: now *two* processes hold the listening socket and the new connection.
    The child closes its copy of the listener and serves the client; the parent closes its copy of the
    connection and goes back to `accept`. A socket stays open until **every** process holding it has
    closed it. A **shell** wires `echo hi | cat` with a pipe, two forks, `dup2` and `exec`.

    wasix_nb runs every process in its own thread with its own copy of memory (fork copies it), shows
    which process holds which end of which socket or pipe (`lsof`), and the tree of processes (`ps`).
    A WAT cell that imports `proc_fork` is made forkable automatically (binaryen's `wasm-opt --asyncify`
    is applied once and cached).
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    md("""
    ## A forking echo server

    Memory map: 0 listening fd | 4 client fd | 8 fork's answer (the child's pid, or 0 in the child) |
    16 / 32 `proc_join`'s pid and status | 64 our address | 128 the client's address | 256 iovec | 1024.. buffer.

    After each `accept` the parent joins the children that have ended, without blocking (flag 1): a child
    that ended and was not joined yet is a **zombie**.
    """),
    code(r'''
    %%wasix --bg -n forker
    (module
      (import "wasix_32v1" "sock_open"   (func $sock_open (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "sock_bind"   (func $sock_bind (param i32 i32) (result i32)))
      (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
      (import "wasix_32v1" "sock_accept" (func $sock_accept (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_read"     (func $fd_read (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_write"    (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_close"    (func $fd_close (param i32) (result i32)))
      ;; proc_fork(copy_memory, -> pid): 1 = fork (0 would be vfork)
      (import "wasix_32v1" "proc_fork"   (func $fork (param i32 i32) (result i32)))
      ;; proc_join(<-> OptionPid, flags, -> JoinStatus): flag 1 = do not block
      (import "wasix_32v1" "proc_join"   (func $join (param i32 i32 i32) (result i32)))
      (import "wasix_32v1" "proc_exit"   (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "\01\00\00\00\7f\00\00\01")       ;; INET, port 0 (any free one), 127.0.0.1

      (func $serve (param $c i32)                              ;; the child's whole life
        (local $n i32)
        (block $eof (loop $more
          (i32.store (i32.const 256) (i32.const 1024))
          (i32.store (i32.const 260) (i32.const 4096))
          (br_if $eof (call $fd_read (local.get $c) (i32.const 256) (i32.const 1) (i32.const 264)))
          (local.set $n (i32.load (i32.const 264)))
          (br_if $eof (i32.eqz (local.get $n)))                ;; 0 bytes: the client is done
          (i32.store (i32.const 260) (local.get $n))
          (drop (call $fd_write (local.get $c) (i32.const 256) (i32.const 1) (i32.const 264)))
          (br $more)))
        (drop (call $fd_close (local.get $c)))
        (call $exit (i32.const 0)))

      (func (export "_start")
        (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))
        (drop (call $sock_bind (i32.load (i32.const 0)) (i32.const 64)))
        (drop (call $sock_listen (i32.load (i32.const 0)) (i32.const 16)))
        (loop $accept
          (drop (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 4) (i32.const 128)))
          (drop (call $fork (i32.const 1) (i32.const 8)))
          (if (i32.eqz (i32.load (i32.const 8)))
            (then (drop (call $fd_close (i32.load (i32.const 0))))   ;; child: drop its copy of the listener
                  (call $serve (i32.load (i32.const 4)))))
          (drop (call $fd_close (i32.load (i32.const 4))))          ;; parent: drop its copy of the client
          (block $reaped (loop $reap
            (i32.store8 (i32.const 16) (i32.const 0))               ;; any child
            (drop (call $join (i32.const 16) (i32.const 1) (i32.const 32)))
            (br_if $reaped (i32.ne (i32.load8_u (i32.const 32)) (i32.const 1)))   ;; 1 = one had exited
            (br $reap)))
          (br $accept))))
    '''),
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
            return host, int(port)

    address = wait_for(lambda: listening_address(forker))
    client = socket.create_connection(address)
    client.sendall(b"hello from Python")
    client.recv(100)
    """),
    md("""
    ## Who holds what

    `forker.processes` is the tree: pid 1 is the server, pid 2 the child serving our client. `state` says
    what each one does right now.
    """),
    code("""
    wait_for(lambda: len(forker.processes) == 2)
    forker.processes
    """),
    md("""
    `forker.lsof()` lists every open socket and pipe of the run with **every** (pid, fd) holding it. Right
    after the fork both processes held both sockets; each closed the copy it does not need, so the listener
    is pid 1's alone and the connection pid 2's alone:
    """),
    code("""
    wait_for(lambda: len(forker.lsof()) == 2 and set(forker.lsof()["count"]) == {1})
    forker.lsof()
    """),
    md("""
    The trace shows it happening: `fd_close` of fd 4 by pid 1, of fd 3 by pid 2 (the `pid` column).
    The fork itself shows up once per process: `proc_fork` returns 2 in the parent and 0 in the child
    (and once more as *unwinding*: that is how the running stack is taken off to be copied).
    """),
    code("""
    calls = forker.trace
    calls[calls.syscall.isin(["proc_fork", "fd_close", "sock_accept"])][["seq", "pid", "syscall", "fd", "outs", "mark"]]
    """),
    md("""
    ## Several clients at once

    Each connection gets its own child, so they are served side by side:
    """),
    code("""
    clients = [socket.create_connection(address) for _ in range(3)]
    for i, c in enumerate(clients):
        c.sendall(b"client %d" % i)
    print([c.recv(100) for c in clients])
    wait_for(lambda: len(forker.lsof()) == 5)
    forker.lsof()
    """),
    code("""
    for c in clients + [client]:
        c.close()
    wait_for(lambda: all(s != "running" and not s.startswith("blocked") for s in forker.processes.state[1:]))
    %wasix ps
    """),
    md("""
    The children have **exited**; the ones the server has not joined yet are **zombies**: they keep their
    exit status (not their memory) until the parent's next `proc_join`. Stopping the server stops its
    whole tree and closes every socket once:
    """),
    code("""
    %wasix kill forker
    forker.processes
    """),
    md("""
    ## A shell pipeline: `echo hi | cat`

    A shell makes a pipe, forks twice, moves one end onto each child's stdout / stdin with `dup2`
    (`fd_renumber` in WASIX), and replaces each child's program with `exec`. Programs are found by name in
    a **command map** (`commands={...}`, `--map-command NAME=PATH.wasm`, or
    `%config WasixMagics.commands`). Here are an `echo` and a `cat`, as WAT text:
    """),
    code(r'''
    ECHO = """(module
      (import "wasix_32v1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
      (import "wasix_32v1" "args_get" (func $args (param i32 i32) (result i32)))
      (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (local $i i32) (local $p i32) (local $n i32)
        (drop (call $sizes (i32.const 0) (i32.const 4)))
        (drop (call $args (i32.const 16) (i32.const 1024)))    ;; argv pointers at 16, strings at 1024
        (local.set $i (i32.const 1))
        (block $done (loop $arg
          (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 0))))
          (local.set $p (i32.load (i32.add (i32.const 16) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $n (i32.const 0))
          (block $end (loop $len                                ;; strlen
            (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $len)))
          (i32.store8 (i32.add (local.get $p) (local.get $n))   ;; a space between words, \\n at the end
            (select (i32.const 10) (i32.const 32)
                    (i32.eq (i32.add (local.get $i) (i32.const 1)) (i32.load (i32.const 0)))))
          (i32.store (i32.const 8) (local.get $p))
          (i32.store (i32.const 12) (i32.add (local.get $n) (i32.const 1)))
          (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $arg)))))"""

    CAT = """(module
      (import "wasix_32v1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (local $n i32)
        (block $eof (loop $more
          (i32.store (i32.const 0) (i32.const 64))
          (i32.store (i32.const 4) (i32.const 4096))
          (br_if $eof (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
          (local.set $n (i32.load (i32.const 8)))
          (br_if $eof (i32.eqz (local.get $n)))
          (i32.store (i32.const 4) (local.get $n))
          (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (br $more)))))"""
    %config WasixMagics.commands = {"echo": ECHO, "cat": CAT}
    '''),
    md("""
    The "shell" below does what `sh -c 'echo hi | cat'` does. Memory: 0 fork's answer | 100 / 104 the
    pipe's read / write end | 16 / 32 join | 300.. program names and argument lists (one argument a line).
    """),
    code(r'''
    %%wasix -n pipeline
    (module
      (import "wasix_32v1" "fd_pipe"     (func $pipe (param i32 i32) (result i32)))
      (import "wasix_32v1" "fd_renumber" (func $dup2 (param i32 i32) (result i32)))
      (import "wasix_32v1" "fd_close"    (func $close (param i32) (result i32)))
      (import "wasix_32v1" "proc_fork"   (func $fork (param i32 i32) (result i32)))
      ;; proc_exec(name, name_len, args, args_len): never returns (an unknown name ends the process: 44)
      (import "wasix_32v1" "proc_exec"   (func $exec (param i32 i32 i32 i32)))
      (import "wasix_32v1" "proc_join"   (func $join (param i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 300) "/bin/echo")
      (data (i32.const 320) "echo\0ahi")
      (data (i32.const 340) "/bin/cat")
      (data (i32.const 360) "cat")
      (func $wait_any
        (i32.store8 (i32.const 16) (i32.const 0))
        (drop (call $join (i32.const 16) (i32.const 0) (i32.const 32))))
      (func (export "_start")
        (drop (call $pipe (i32.const 100) (i32.const 104)))
        (drop (call $fork (i32.const 1) (i32.const 0)))
        (if (i32.eqz (i32.load (i32.const 0)))                  ;; first child: echo hi > pipe
          (then (drop (call $dup2 (i32.load (i32.const 104)) (i32.const 1)))
                (drop (call $close (i32.load (i32.const 100))))
                (call $exec (i32.const 300) (i32.const 9) (i32.const 320) (i32.const 7))))
        (drop (call $fork (i32.const 1) (i32.const 0)))
        (if (i32.eqz (i32.load (i32.const 0)))                  ;; second child: cat < pipe
          (then (drop (call $dup2 (i32.load (i32.const 100)) (i32.const 0)))
                (drop (call $close (i32.load (i32.const 104))))
                (call $exec (i32.const 340) (i32.const 8) (i32.const 360) (i32.const 3))))
        (drop (call $close (i32.load (i32.const 100))))         ;; the shell keeps neither end
        (drop (call $close (i32.load (i32.const 104))))
        (call $wait_any)
        (call $wait_any)))
    '''),
    md("""
    `hi` came out of `cat`. `cat` saw the end of its input only once **every** write end was closed: the
    shell's, and `echo`'s, which `echo` held as its stdout until it exited. The trace, by process:
    """),
    code("""
    calls = pipeline.trace
    calls[calls.syscall.isin(["fd_pipe", "fd_renumber", "fd_close", "proc_exec", "fd_read", "fd_write", "proc_join"])][
        ["seq", "pid", "syscall", "fd", "args", "outs"]]
    """),
    code("""
    pipeline.processes
    """),
    md("""
    ## A real shell

    The same with `dash`, the Debian shell, built for WASIX by Wasmer, when its binary is at hand
    (`../shared/realwasix/dash.wasm` beside the project, or `$WASIX_NB_REALWASIX`). dash finds `cat` by
    searching its `PATH`: with a command map and no `--dir`, the program sees a `/` holding `/bin/echo`
    and `/bin/cat`, so the search succeeds, and the exec goes through the map.
    """),
    code("""
    import os
    import wasix_nb
    here = os.environ.get("WASIX_NB_REALWASIX") or os.path.join("..", "..", "shared", "realwasix")
    dash = os.path.join(here, "dash.wasm")
    if os.path.exists(dash):
        r = wasix_nb.run(dash, args=["-c", "echo one; echo two | cat | cat; x=$(echo three); echo $x"],
                         commands={"cat": CAT})
        print(r.stdout.decode(), r.processes[["pid", "parent", "program", "state"]], sep="\\n")
    else:
        print("dash.wasm not found here: skipped")
    """),
    md("""
    ## Try this

    1. In the forking server, delete the parent's `fd_close` of the client. Connect, send, close the
       Python socket: does the child still see the end of the conversation? Why not? (Look at `lsof`.)
    2. Delete the child's `fd_close` of the listener, then kill pid 1 only... you cannot: `%wasix kill`
       ends the whole tree. Which process would keep the port otherwise?
    3. Change `proc_fork`'s first argument to 0 (vfork): the parent now waits until the child execs or
       exits. What changes in the pipeline's trace order?
    4. Make the server fork forever without joining (remove the `$reap` loop) and open 70 connections:
       the process limit (64 by default, `max_procs`) answers `fork` with AGAIN.
    """),
]
