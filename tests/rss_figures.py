"""Peak RSS of the memory reproducers of issue 9 (B3, B4, B7) against a control, for whatever
wasix_nb is on PYTHONPATH:  PYTHONPATH=<checkout> python tests/rss_figures.py"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memcheck import peak_rss  # noqa: E402

IMPORTS = {
    "fd_write": '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))',
    "poll_oneoff": '(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))',
    "proc_exit": '(import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))',
    "fd_dup": '(import "wasix_32v1" "fd_dup" (func $fd_dup (param i32 i32) (result i32)))',
    "fd_close": '(import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))',
}


def mod(names, body, pages):
    return "(module\n" + "\n".join(IMPORTS[n] for n in names) + f'\n(memory (export "memory") {pages})\n{body})'


def iovecs(count, length, pages):
    return mod(
        ("fd_write", "proc_exit"),
        f"""
  (func (export "_start") (local $i i32)
    (if (i32.ne (i32.const {length}) (i32.const 0)) (then
      (loop $l
        (i32.store (i32.add (i32.mul (local.get $i) (i32.const 8)) (i32.const 4)) (i32.const {length}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const {count}))))))
    (call $proc_exit (call $fd_write (i32.const 1) (i32.const 0) (i32.const {count}) (i32.const 0))))""",
        pages,
    )


def poll(n):
    return mod(
        ("poll_oneoff", "proc_exit"),
        f"""
  (func (export "_start")
    (call $proc_exit (call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const {n}) (i32.const 0))))""",
        768,
    )


def dups(n):
    return mod(
        ("fd_dup", "fd_close"),
        f"""
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $fd_dup (i32.const 1) (i32.const 64)))
      (drop (call $fd_close (i32.load (i32.const 64))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {n})))))""",
        1,
    )


CASES = [
    ("B3 fd_write, 1024 overlapping iovecs x 256 KiB (4-page memory)", iovecs(1024, 4 * 65536, 4), iovecs(1, 8, 4), {}),
    ("B4 fd_write, 4M iovecs (32 MiB memory)", iovecs(4 << 20, 0, 512), iovecs(1, 0, 512), {}),
    ("B4 poll_oneoff, 1M subscriptions (48 MiB memory)", poll(1_000_000), poll(1), {}),
    ("B7 100,000 closes (trace_limit 1000)", dups(100_000), dups(1), {"trace_limit": 1000}),
]

if __name__ == "__main__":
    import wasix_nb

    print(f"wasix_nb from {os.path.dirname(wasix_nb.__file__)}")
    for title, wat, control, opts in CASES:
        peak, rep = peak_rss(wat, **opts)
        base, _ = peak_rss(control, **opts)
        print(
            f"{title}: peak RSS {peak:.0f} MiB, control {base:.0f} MiB, extra {peak - base:.0f} MiB "
            f"({rep.get('outcome')}, exit {rep.get('exit_code')})"
        )
