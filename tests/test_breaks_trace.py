"""Issue 9, the trace's breaks: B5 (stored values and the trace bounded in bytes), B6 (host-error
tracebacks bounded), B20 (program strings escaped in the text)."""

import os
import subprocess
import sys
import textwrap

import wasix_nb
from wasix_nb.host import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mib(code: str) -> float:
    """Peak RSS (MiB) of a fresh Python child running `code`, read with RUSAGE_CHILDREN by a launcher
    that has no other children (so nothing else of the test session counts)."""
    launcher = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-c', sys.argv[1]])\n"
        "assert r.returncode == 0, r.returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", launcher, textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.strip().splitlines()[-1])


def _string_calls(import_line, call, n, size):
    """A program making `n` calls `call` with a `size`-byte string at address 0 (memory sized for it)."""
    pages = size // 65536 + 2
    return f"""(module
      {import_line}
      (memory (export "memory") {pages})
      (func (export "_start") (local $i i32)
        (memory.fill (i32.const 0) (i32.const 97) (i32.const {size}))
        (loop $l
          {call}
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))))"""


# -- B5 ----------------------------------------------------------------------------------------------
def test_b5_program_sized_strings_are_not_stored_whole():
    size, n = 1 << 20, 300  # today's main stored 1 MiB per event: 300+ MiB per program
    progs = [
        _string_calls(
            '(import "wasix_32v1" "callback_signal" (func $f (param i32 i32)))',
            f"(call $f (i32.const 0) (i32.const {size}))",
            n,
            size,
        ),
        _string_calls(
            '(import "wasix_32v1" "chdir" (func $f (param i32 i32) (result i32)))',
            f"(drop (call $f (i32.const 0) (i32.const {size})))",
            n,
            size,
        ),
    ]
    code = f"""
        import wasix_nb
        for wat in {progs!r}:
            r = wasix_nb.run(wat)
            assert r.log.calls == {n}, (r.outcome, r.message, r.log.calls)
            assert all(len(line) < 20000 for line in r.log.lines())
    """
    peak = peak_rss_mib(code)
    assert peak < 200, f"peak RSS {peak:.0f} MiB"


def test_b5_trace_is_bounded_in_bytes_and_the_summary_stays_exact():
    # 2,000 writes of 4 KiB each to stdout: 8 MiB of payloads; the trace may hold 1 MiB
    wat = """(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (local $i i32)
        (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 4096))
        (loop $l
          (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 2000))))))"""
    r = wasix_nb.run(wat, trace_bytes="1M")
    log = r.log
    assert log.calls == 2000 and 0 < len(log) < 2000
    assert log.captured_bytes + len(log) * 256 <= 1 << 20
    assert r.summary.set_index("syscall").loc["fd_write", "calls"] == 2000
    assert "more calls counted, not recorded" in log.lines()[-1]
    # the default budget is stated and used
    from wasix_nb import options

    assert options.Options().trace_bytes == 256 << 20 and r.process.options.trace_bytes == 1 << 20


def test_b5_every_stored_note_is_bounded(driver):
    d = driver("sock_connect", "sock_open")
    d.call("sock_open", 1, 1, 0, 64)
    ev = d.host.trace.events[-1]
    assert ev[4] == 0
    # a host note with a program-sized message (a policy denial text, a host error) is cut
    from wasix_nb.abi.errno import WasiError

    call = registry.Syscall(
        "huge_note", "fd:fd", "", "errno", lambda h, fd: (_ for _ in ()).throw(WasiError(5, "x" * 100_000)), {}, "test"
    )
    registry.wrap(call, d.host)(3)
    assert len(d.host.trace.events[-1][6]) < 1000


# -- B6 ----------------------------------------------------------------------------------------------
def test_b6_host_error_tracebacks_are_bounded():
    from wasix_nb.abi.memory import GuestMemory
    from wasix_nb.host.host import Host

    h = Host()
    h.mem = GuestMemory.of_bytearray(bytearray(64))

    def broken(host, fd):
        raise ValueError("y" * 100_000)

    call = registry.Syscall("broken", "fd:fd", "", "errno", broken, {}, "test")
    f = registry.wrap(call, h)
    for _ in range(500):
        assert f(3) == 29  # IO for the program
    assert len(h.host_errors) == registry.HOST_ERRORS_KEPT
    assert h.host_errors_more == 500 - registry.HOST_ERRORS_KEPT
    assert all(len(tb) <= 16384 for _, _, tb in h.host_errors)
    assert len(h.trace.events[-1][6]) < 1000
    h.close()


# -- B20 ---------------------------------------------------------------------------------------------
def test_b20_program_strings_cannot_forge_trace_lines():
    forged = b"x) = 0\n    9 +0.000001 sock_open(af=INET) = 0 fd=3\x1b[2J"
    data = "".join(f"\\{b:02x}" for b in forged)
    wat = f'''(module
      (import "wasix_32v1" "chdir" (func $cd (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "{data}")
      (func (export "_start")
        (drop (call $cd (i32.const 64) (i32.const {len(forged)})))
        (call $cb (i32.const 64) (i32.const {len(forged)}))
        (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const {len(forged)}))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))'''
    r = wasix_nb.run(wat, strsize=200)
    text = r.log.text()
    lines = text.splitlines()
    assert len(lines) == 3, text
    assert "\x1b" not in text and "\\x1b[2J" in text and "\\n" in text
    assert all(line.lstrip()[0].isdigit() for line in lines)
    assert "\x1b" not in r.log.summary_text()
