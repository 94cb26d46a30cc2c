"""Giving a program a directory through the three front doors: %%wasix --dir, %config WasixMagics.dirs,
and python -m wasix_nb run --dir (the API's dirs= is tests/test_files.py)."""

import subprocess
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell

from conftest import cell
from wasix_nb.errors import WasixError

# opens "greeting.txt" in the first preopen, copies it to stdout, writes "out.txt" with "written"
COPY = """(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "greeting.txt")
  (data (i32.const 120) "out.txt")
  (data (i32.const 140) "written")
  (func (export "_start")
    (local $e i32)
    (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 12) (i32.const 0)
                              (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)))
    (if (local.get $e) (then (call $exit (i32.add (i32.const 100) (local.get $e)))))
    (i32.store (i32.const 16) (i32.const 200)) (i32.store (i32.const 20) (i32.const 64))
    (drop (call $read (i32.load (i32.const 8)) (i32.const 16) (i32.const 1) (i32.const 24)))
    (i32.store (i32.const 20) (i32.load (i32.const 24)))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
    (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 120) (i32.const 7) (i32.const 1)
                              (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 8)))
    (if (local.get $e) (then (call $exit (i32.add (i32.const 100) (local.get $e)))))
    (i32.store (i32.const 16) (i32.const 140)) (i32.store (i32.const 20) (i32.const 7))
    (drop (call $write (i32.load (i32.const 8)) (i32.const 16) (i32.const 1) (i32.const 24)))))
"""


@pytest.fixture
def box(tmp_path):
    d = tmp_path / "box"
    d.mkdir()
    (d / "greeting.txt").write_text("hi from a file\n")
    return d


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "wasix_nb")
    yield shell
    shell.run_line_magic("unload_ext", "wasix_nb")


def test_magic_dir(ip, box):
    cap = cell(ip, f"-n fsprog --dir {box}::/ --no-live", COPY)
    assert "hi from a file" in cap.stdout
    assert (box / "out.txt").read_text() == "written"
    proc = ip.user_ns["fsprog"]
    fds = proc.fds
    assert list(fds[fds.fd == 3].kind) == ["dir"] and list(fds[fds.fd == 3].peer) == [str(box)]
    hist = proc.history
    assert set(hist[hist.kind == "file"].local) == {"/greeting.txt", "/out.txt"}


def test_magic_read_only_dir_and_config(ip, box):
    from wasix_nb.errors import ProgramExit

    with pytest.raises(ProgramExit, match="169"):  # 100 + ROFS: out.txt cannot be made
        cell(ip, f"--dir '{box}::/:ro' --no-live", COPY)
    assert not (box / "out.txt").exists()
    ip.run_line_magic("config", f"WasixMagics.dirs = [{str(box) + '::/'!r}]")
    try:
        cap = cell(ip, "--no-live", COPY)
        assert "hi from a file" in cap.stdout
    finally:
        ip.run_line_magic("config", "WasixMagics.dirs = []")


def test_magic_missing_dir_is_a_short_error(ip, tmp_path):
    with pytest.raises(WasixError, match="not a directory"):
        cell(ip, f"--dir {tmp_path}/nope::/ --no-live", COPY)


def test_cli_dir(box, tmp_path):
    prog = tmp_path / "copy.wat"
    prog.write_text(COPY)
    r = subprocess.run(
        [sys.executable, "-m", "wasix_nb", "run", str(prog), "--dir", f"{box}::/"], capture_output=True, timeout=60
    )
    assert (r.returncode, r.stdout) == (0, b"hi from a file\n"), r.stderr
    assert (box / "out.txt").read_text() == "written"
    r = subprocess.run([sys.executable, "-m", "wasix_nb", "run", str(prog)], capture_output=True, timeout=60)
    assert r.returncode == 108  # no preopen: fd 3 is not open (BADF)
    r = subprocess.run(
        [sys.executable, "-m", "wasix_nb", "run", str(prog), "--dir", f"{tmp_path}/nope"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 2 and b"not a directory" in r.stderr
