from make_notebooks import code, md

NAME = "01-basics"

ARGS_WAT = r'''
;; args.wat: print every argument, then every environment variable, one per line
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; memory map: 0 count, 4 total size, 16 iovec, 24 nwritten, 64.. pointers, 1024.. the strings

  ;; write the NUL-terminated string at $p to stdout, with its NUL turned into a newline
  (func $puts (param $p i32) (local $n i32)
    (block $end (loop $scan
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $scan)))
    (i32.store8 (i32.add (local.get $p) (local.get $n)) (i32.const 10))
    (i32.store (i32.const 16) (local.get $p))                          ;; iovec.buf
    (i32.store (i32.const 20) (i32.add (local.get $n) (i32.const 1)))  ;; iovec.len
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))

  ;; puts() each of the $count pointers stored from address 64 on
  (func $puts_all (param $count i32) (local $i i32)
    (block $end (loop $each
      (br_if $end (i32.ge_u (local.get $i) (local.get $count)))
      (call $puts (i32.load (i32.add (i32.const 64) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $each))))

  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))  ;; argc -> [0], bytes -> [4]
    (drop (call $args_get (i32.const 64) (i32.const 1024)))    ;; argv[] -> 64.., strings -> 1024..
    (call $puts_all (i32.load (i32.const 0)))
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (drop (call $environ_get (i32.const 64) (i32.const 1024)))
    (call $puts_all (i32.load (i32.const 0)))))
'''.strip("\n")

CELLS = [
    md("""
    # 1 · `%%wasix` basics

    This series runs small WebAssembly programs against a **WASIX host written in Python**. You write the
    program in WebAssembly text (WAT) in a `%%wasix` cell; the cell compiles it, runs it, streams what it
    prints, and then shows the **descriptor table** the program left behind. Every call the program makes
    into the host (a *syscall*) is recorded in a **trace**.

    This first notebook has no sockets yet. It covers the parts every later notebook uses: printing,
    arguments, environment variables, exit codes, and how to read a trap.

    On Binder the extension is already loaded. Running locally? Uncomment the line below.
    """),
    code("""
    # %load_ext wasix_nb  ← only needed outside Binder
    """),
    md("""
    ## A program that prints

    A WASI program has no `printf`: it asks the host to write bytes with
    `fd_write(fd, iovs, iovs_len, nwritten)`. `iovs` points at a list of *iovecs*, each a pair of
    32-bit numbers `{buf, len}` in the program's linear memory. Descriptor `1` is standard output.

    The program below puts its message at address 16 with a `data` segment, builds one iovec at address 0,
    and calls `fd_write` once. `_start` is the entry point, as in any WASI program.
    """),
    code(r'''
    %%wasix
    (module
      ;; fd_write(fd, iovs, iovs_len, nwritten) -> errno
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "Hello from WebAssembly!\n")   ;; 24 bytes at address 16
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))    ;; iovec.buf = 16
        (i32.store (i32.const 4) (i32.const 24))    ;; iovec.len = 24
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    '''),
    md("""
    Under the output you see a **status line** (how the program ended and with which status, the number
    of syscalls, how many failed, how long it took) and the **descriptor table**. A new process starts
    with exactly three descriptors: 0 `stdin`, 1 `stdout`, 2 `stderr`. The `bytes_out` column of fd 1 counts the 24 bytes just written.

    ## Seeing the syscalls: `--trace`

    `--trace` prints the trace after the run, one line per call, like `strace`: the sequence number, the
    time since start, the call with its decoded arguments, the result (`0` is success) and what the host
    wrote back (`n=24`: bytes written). `-n NAME` names the process and binds it to a Python variable.
    """),
    code(r'''
    %%wasix -n hello --trace
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "Hello again\n")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 12))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    '''),
    md("""
    The variable `hello` is the process. The line magic `%wasix trace NAME` gives the same trace as a
    pandas DataFrame, ready to filter and count:
    """),
    code("""
    %wasix trace hello
    """),
    code("""
    hello.status, hello.exit_code, bytes(hello.stdout_bytes)
    """),
    md("""
    ## Arguments and environment

    A program reads its arguments in two steps: `args_sizes_get` says how many there are and how many bytes
    they need, then `args_get` copies the strings and an array of pointers to them into memory. The
    environment works the same way with `environ_sizes_get` / `environ_get`.

    This program is longer, so we save it to a file with `%%writefile` and run the file with the line
    form `%wasix run FILE`, which takes the same options as the cell form.
    """),
    code("%%writefile args.wat\n" + ARGS_WAT),
    code("""
    %wasix run args.wat --args 'first "second has spaces"' --env GREETING=hello --env LANG=C
    """),
    md("""
    `argv[0]` is the program's name (here the file name); `--args` takes one shell-quoted string, so
    quotes group words. The program sees **only** the variables given with `--env` (repeat it for more):
    nothing leaks in from the kernel's own environment.

    ## Exit codes

    `proc_exit(code)` ends the program at once. Like `%%bash`, a non-zero exit **fails the cell**, so a
    notebook run stops at the first broken program. (This cell is tagged `raises-exception`, so running
    the whole notebook carries on past it.)
    """),
    code(r'''
    %%wasix
    (module
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      (func (export "_start")
        (call $proc_exit (i32.const 3))))    ;; exit status 3
    ''', tags=["raises-exception"]),
    md("""
    When a failure is what you want to look at, add `--no-raise-error`: the cell succeeds and the status
    line reports `exited 3`. The last process run is always bound to `_wasix`.
    """),
    code(r'''
    %%wasix --no-raise-error
    (module
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      (func (export "_start")
        (call $proc_exit (i32.const 3))))
    '''),
    code("""
    _wasix.status, _wasix.exit_code
    """),
    md("""
    ## Reading a trap

    A *trap* is WebAssembly's hardware fault: the program did something the machine forbids, and it stops
    there. The error names the trap, the wasm function and byte offset, and **the line of your cell** that
    trapped. This program reads 4 bytes at address 70000, but its memory is one 64 KiB page (65536 bytes):
    """),
    code(r'''
    %%wasix
    (module
      (memory 1)                                 ;; one page: addresses 0..65535
      (func (export "_start")
        (drop (i32.load (i32.const 70000)))))    ;; out of bounds
    ''', tags=["raises-exception"]),
    md("""
    Other traps read the same way: `integer divide by zero`, `unreachable` (an `(unreachable)`
    instruction, what a compiler emits after a failed assertion), `indirect call type mismatch`…

    A mistake in the WAT text itself fails before anything runs, with the line, column and a caret:
    """),
    code(r'''
    %%wasix
    (module
      (func (export "_start")
        (drop (i32.ad (i32.const 1) (i32.const 2)))))    ;; typo: i32.ad
    ''', tags=["raises-exception"]),
    md("""
    ## Try this

    1. Change the first program to write its message to **stderr** (fd 2). Which column of the table moves?
    2. Write the greeting with **two** iovecs (`"Hello, "` and `"world\\n"`) in a single `fd_write`:
       `iovs_len` becomes 2. What does `n=` say in the trace?
    3. Run `args.wat` with no `--args` at all. What is left in `argv`?
    4. Make the trap a division by zero: `(drop (i32.div_u (i32.const 1) (i32.const 0)))`.
    5. Run `%%wasix?` to see every option; try `--summary` on any cell.

    **Next:** [2 · `sock_open` and the descriptor table](02-sock-open.ipynb).
    """),
]
