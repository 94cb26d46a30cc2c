"""A real shell (dash, built by Wasmer for WASIX) runs pipelines: builtins in forked subshells, and a
`cat` of our own (WAT) found through the command map, with the pipe's ends moved between processes."""

import os

import pytest

import wasix_nb
from realwasix import folder

CAT = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $n i32)
    (block $eof (loop $more
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 4096))
      (br_if $eof (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (br_if $eof (i32.eqz (local.get $n)))
      (i32.store (i32.const 4) (local.get $n))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $more)))))"""


def dash(script, **opts):
    where = folder()
    if where is None:
        pytest.skip("real WASIX binaries not found: set $WASIX_NB_REALWASIX")
    return wasix_nb.run(os.path.join(where, "dash.wasm"), args=["-c", script], argv0="dash", timeout=60, **opts)


@pytest.mark.parametrize(
    "script, out",
    [
        ('echo hi | read x; echo "[$x]"', b"[]\n"),  # read runs in the pipeline's subshell
        ("x=$(echo sub); echo got $x", b"got sub\n"),
        ("echo a | { read y; echo y=$y; }", b"y=a\n"),
        ("(exit 3); echo status $?", b"status 3\n"),
    ],
)
def test_dash_builtin_pipelines_and_subshells(no_leak, script, out):
    r = dash(script)
    assert (r.outcome, r.exit_code, r.stdout, r.stderr) == ("exited", 0, out, b""), r.message


def test_dash_pipeline_into_a_mapped_program(no_leak):
    r = dash("echo one; echo two | cat | cat; echo three", commands={"cat": CAT})
    assert (r.exit_code, r.stdout, r.stderr) == (0, b"one\ntwo\nthree\n", b""), r.message
    pids = set(r.trace.pid)
    assert len(pids) >= 4  # dash, two cats, the echo subshell
    moved = r.trace[(r.trace.syscall == "fd_renumber") & (r.trace.pid != 1)]
    assert len(moved) >= 2  # pipe ends dup2'ed onto 0 and 1


def test_dash_unknown_command_is_not_found(no_leak):
    r = dash("nosuch; echo $?", commands={"cat": CAT})
    assert (r.stdout, r.stderr) == (b"127\n", b"dash: 1: nosuch: not found\n")


def test_a_forked_subshell_reads_files_through_the_inherited_preopen(no_leak, tmp_path):
    (tmp_path / "f.txt").write_text("file content\n")
    r = dash(
        "(read y < /f.txt; echo sub $y); echo $(cat_is_not_needed=1; read z < /f.txt; echo $z)", dirs=[f"{tmp_path}::/"]
    )
    assert (r.exit_code, r.stdout, r.stderr) == (0, b"sub file content\nfile content\n", b""), r.message
