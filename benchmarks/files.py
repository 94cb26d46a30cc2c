"""Files: what a program pays per file call under wasix_nb, as ratios to the same work done by Python
itself on the same directory (os.write / os.open+os.close), measured side by side, 5 rounds.

    python benchmarks/files.py          # prints the median and worst ratio of each
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import wasix_nb  # noqa: E402

WRITES, OPENS, ROUNDS = 4096, 2000, 5
DEPTH = "a/b/c"

WRITE_WAT = f"""(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "out.bin")
  (func (export "_start") (local $i i32) (local $fd i32)
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 7) (i32.const 9)
                      (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 8)))
    (local.set $fd (i32.load (i32.const 8)))
    (i32.store (i32.const 16) (i32.const 4096)) (i32.store (i32.const 20) (i32.const 4096))
    (loop $l
      (drop (call $write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {WRITES}))))))"""

OPEN_WAT = f'''(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "{DEPTH}/file.txt")
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const {len(DEPTH) + 9}) (i32.const 0)
                        (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)))
      (drop (call $close (i32.load (i32.const 8))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {OPENS}))))))'''


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    box = tempfile.mkdtemp(prefix="wxfiles")
    os.makedirs(os.path.join(box, DEPTH))
    with open(os.path.join(box, DEPTH, "file.txt"), "w") as fp:
        fp.write("x")
    dirs = [f"{box}::/"]
    wasix_nb.run(WRITE_WAT, dirs=dirs, check=True)  # compile both once, outside the timing
    wasix_nb.run(OPEN_WAT, dirs=dirs, check=True)
    chunk = bytes(4096)

    def py_write():
        fd = os.open(os.path.join(box, "out.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for _ in range(WRITES):
            os.write(fd, chunk)
        os.close(fd)

    def py_open():
        path = os.path.join(box, DEPTH, "file.txt")
        for _ in range(OPENS):
            os.close(os.open(path, os.O_RDONLY))

    ratios = {"fd_write 4 KiB": [], "path_open+fd_close (3 dirs deep)": []}
    for _ in range(ROUNDS):
        w = wasix_nb.run(WRITE_WAT, dirs=dirs, check=True).duration
        ratios["fd_write 4 KiB"].append((w / WRITES, w / timed(py_write)))
        o = wasix_nb.run(OPEN_WAT, dirs=dirs, check=True).duration
        ratios["path_open+fd_close (3 dirs deep)"].append((o / OPENS, o / timed(py_open)))
    print(f"files: {ROUNDS} rounds, wasix_nb vs Python on the same directory ({box})")
    for name, rs in ratios.items():
        per = statistics.median(r[0] for r in rs) * 1e6
        vs = sorted(r[1] for r in rs)
        print(f"  {name:<34} {per:7.1f} us per call   x{statistics.median(vs):.1f} Python's time (worst x{vs[-1]:.1f})")


if __name__ == "__main__":
    main()
