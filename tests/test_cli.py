"""python -m wasix_nb run: output passes through, exit codes, --trace lines, saved traces."""

import subprocess
import sys

PROG = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $as (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out\\n")
  (data (i32.const 32) "err\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 32))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 64)))
    (drop (call $as (i32.const 100) (i32.const 104)))
    (call $exit (i32.load (i32.const 100)))))
"""


def cli(*args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "wasix_nb", *args], input=stdin, capture_output=True, timeout=60)


def test_pass_through_and_exit_code(tmp_path):
    f = tmp_path / "prog.wat"
    f.write_text(PROG)
    r = cli("run", str(f), "--", "a", "b", "c")
    assert r.stdout == b"out\n" and r.stderr == b"err\n"
    assert r.returncode == 4  # argc including argv[0]
    r = cli("run", str(f))
    assert r.returncode == 1


def test_trace_to_stderr_and_file_and_saved_trace(tmp_path):
    f = tmp_path / "prog.wat"
    f.write_text(PROG)
    r = cli("run", str(f), "--trace", "--summary")
    err = r.stderr.decode()
    assert "sock_open(af=INET, type=STREAM, proto=0, ro_fd=0x40) = 0 fd=3" in err
    assert "proc_exit(code=1) = ?" in err
    assert "% time" in err and r.stdout == b"out\n"
    out = tmp_path / "trace.txt"
    saved = tmp_path / "trace.jsonl"
    r = cli("run", str(f), "-o", str(out), "--save-trace", str(saved))
    assert r.stderr == b"err\n"
    assert "fd_write(fd=1" in out.read_text()
    r2 = cli("trace", str(saved))
    assert [l.split(" ", 2)[-1] for l in r2.stdout.decode().splitlines()] == [
        l.split(" ", 2)[-1] for l in out.read_text().splitlines()
    ]


def test_errors_and_trap_status(tmp_path):
    bad = tmp_path / "bad.wat"
    bad.write_text('(module (func (export "_start") (i32.nope)))')
    r = cli("run", str(bad))
    assert r.returncode == 2 and b"bad.wat:1:" in r.stderr and b"Traceback" not in r.stderr
    trap = tmp_path / "trap.wat"
    trap.write_text('(module (func (export "_start") unreachable))')
    r = cli("run", str(trap))
    assert r.returncode == 134 and b"wasm trap: unreachable" in r.stderr
    loop = tmp_path / "loop.wat"
    loop.write_text('(module (func (export "_start") (loop $l (br $l))))')
    r = cli("run", str(loop), "--timeout", "0.2")
    assert r.returncode == 124 and b"timed out" in r.stderr


def test_console_script_and_wasm_bytes(tmp_path):
    import shutil

    import wasmtime

    f = tmp_path / "prog.wasm"
    f.write_bytes(wasmtime.wat2wasm(PROG))
    r = cli("run", str(f), "--", "x")
    assert r.stdout == b"out\n" and r.returncode == 2
    exe = shutil.which("wasix-nb", path=str(__import__("pathlib").Path(sys.executable).parent))
    if exe:
        r = subprocess.run([exe, "run", str(f)], capture_output=True, timeout=60)
        assert r.stdout == b"out\n" and r.returncode == 1
