"""%%wasix in an in-process IPython shell: output, failures that fail the cell, -n, --inject, help."""

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from conftest import cell
from wasix_nb.errors import MissingImports, ProgramExit, ProgramTrapped, WatSyntaxError

PRINT_AND_OPEN = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from wasm\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $sock_open (i32.const 1) (i32.const 0x2001) (i32.const 0) (i32.const 64)))
    (drop (call $sock_open (i32.const 2) (i32.const 2) (i32.const 0) (i32.const 64)))
    EXIT))
"""


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "wasix_nb")
    yield shell
    shell.run_line_magic("unload_ext", "wasix_nb")


def own_output(cap, prefix):
    """This cell's display (a background process of an earlier test may update its own display while
    this one is being captured)."""
    mine = [o.data for o in cap.outputs if o.data.get("text/plain", "").startswith(prefix)]
    assert len(mine) == 1, [o.data.get("text/plain", "")[:40] for o in cap.outputs]
    return mine[0]


def test_output_summary_line_and_fd_table(ip):
    cap = cell(ip, "--no-live", PRINT_AND_OPEN.replace("EXIT", ""))
    assert cap.stdout.startswith("hello from wasm\n")
    bundle = own_output(cap, "<cell>:")
    assert "exited 0 · 3 calls · 0 errors" in bundle["text/plain"]
    html = bundle["text/html"]
    assert "<table" in html and "INET6" in html and "cloexec" in html


def test_name_binds_the_process(ip):
    cell(ip, "-n srv --no-live", PRINT_AND_OPEN.replace("EXIT", ""))
    proc = ip.user_ns["srv"]
    assert proc.status == "returned"
    assert [r["family"] for r in proc.final_rows if r["kind"] == "socket"] == ["INET", "INET6"]
    df = ip.run_line_magic("wasix", "fds srv")
    assert list(df["fd"]) == [0, 1, 2, 3, 4]
    tr = ip.run_line_magic("wasix", "trace srv")
    assert list(tr["syscall"]) == ["fd_write", "sock_open", "sock_open"]
    summ = ip.run_line_magic("wasix", "trace srv --summary")
    assert set(summ["syscall"]) == {"fd_write", "sock_open"}
    ps = ip.run_line_magic("wasix", "ps")
    assert "srv" in list(ps["name"])


def test_inject_and_trace_flags(ip):
    cap = cell(ip, "--no-live --trace --summary --inject sock_open#1=MFILE", PRINT_AND_OPEN.replace("EXIT", ""))
    assert (
        "sock_open(af=INET, type=STREAM|CLOEXEC, proto=0, ro_fd=0x40) = 33 MFILE (injected by sock_open#1=MFILE)"
        in cap.stdout
    )
    assert "% time" in cap.stdout and "total" in cap.stdout
    assert ip.user_ns["_wasix"].final_rows[3]["family"] == "INET6"


def test_nonzero_exit_fails_the_cell_unless_asked(ip):
    body = PRINT_AND_OPEN.replace("EXIT", "(call $exit (i32.const 7))")
    with pytest.raises(ProgramExit) as ei:
        cell(ip, "--no-live", body)
    assert ei.value._render_traceback_() == ["ProgramExit: exited with code 7"]
    cap = cell(ip, "--no-live --no-raise-error", body)
    assert "exited 7" in own_output(cap, "<cell>:")["text/plain"]


def test_bad_wat_trap_and_missing_import_are_short(ip):
    with pytest.raises(WatSyntaxError) as ei:
        cell(ip, "", '(module\n  (func (export "_start")\n    (i32.nope)))')
    lines = ei.value._render_traceback_()
    # line numbers count the %%wasix line, as the notebook shows the cell
    assert lines[0].startswith("WatSyntaxError:") and any("<cell>:4:6" in l for l in lines)
    assert any(l.strip().startswith("|") and "^" in l for l in lines)
    with pytest.raises(ProgramTrapped) as ei:
        cell(ip, "--no-live", '(module (func (export "_start") (unreachable)))')
    text = "\n".join(ei.value._render_traceback_())
    assert "wasm trap: unreachable" in text and "line 2" in text
    with pytest.raises(MissingImports) as ei:
        cell(ip, "", '(module (import "wasix_32v1" "nope" (func)) (func (export "_start")))')
    assert "wasix_32v1.nope: func () -> ()" in str(ei.value)


def test_bad_options_are_usage_errors(ip):
    with pytest.raises(UsageError):
        cell(ip, "--no-such-flag", "(module)")
    with pytest.raises(UsageError):
        cell(ip, "--bg", "(module)")
    with pytest.raises(UsageError):
        cell(ip, "--env NOEQUALS", '(module (func (export "_start")))')
    with pytest.raises(UsageError):
        ip.run_line_magic("wasix", "fds nobody")


def test_help_documents_the_options(ip):
    from IPython.core.oinspect import Inspector

    doc = ip.find_cell_magic("wasix").__doc__
    for flag in (
        "--args",
        "--env",
        "--timeout",
        "--trace",
        "--summary",
        "--inject",
        "--stub-missing",
        "--no-raise-error",
        "--name",
        "--bg",
        "%wasix ps",
        "%config WasixMagics",
    ):
        assert flag in doc, flag
    assert Inspector  # `%%wasix?` shows exactly this docstring


def test_config_defaults(ip):
    ip.run_line_magic("config", "WasixMagics.timeout = 0.2")
    try:
        with pytest.raises(Exception) as ei:
            cell(ip, "--no-live", '(module (func (export "_start") (loop $l (br $l))))')
        assert "timed out after 0.2 s" in str(ei.value)
    finally:
        ip.run_line_magic("config", "WasixMagics.timeout = None")


def test_args_env_and_stdin(ip):
    wat = """(module
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $as (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "environ_sizes_get" (func $es (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_read" (func $rd (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $as (i32.const 0) (i32.const 4)))
        (drop (call $es (i32.const 8) (i32.const 12)))
        (i32.store (i32.const 16) (i32.const 100)) (i32.store (i32.const 20) (i32.const 50))
        (drop (call $rd (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
        (call $exit (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 100))
                     (i32.add (i32.mul (i32.load (i32.const 8)) (i32.const 10)) (i32.load (i32.const 24)))))))"""
    ip.user_ns["data"] = b"12345"
    cell(ip, "-n p --no-live --no-raise-error --args 'a \"b c\"' --env X=1 --env Y=2 --stdin data", wat)
    assert ip.user_ns["p"].exit_code == 3 * 100 + 2 * 10 + 5


BG_LOOP = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "started\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 64)))
    (loop $l (drop (call $yield)) (br $l))))
"""


def test_background_process_ps_fds_kill_and_rerun(ip):
    import time

    from wat_core import count_os_fds

    before = count_os_fds()
    cap = cell(ip, "--bg -n bg1 --no-live", BG_LOOP)
    proc = ip.user_ns["bg1"]
    deadline = time.time() + 10
    while len(proc.host.trace) < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert proc.status == "running"
    assert proc.stdout_bytes == b"started\n"
    out_widgets = [o for o in cap.outputs if "application/vnd.jupyter.widget-view+json" in o.data]
    assert out_widgets, "background output goes to a widget in the starting cell"
    ps = ip.run_line_magic("wasix", "ps")
    row = ps[ps["name"] == "bg1"].iloc[0]
    assert row["status"] == "running" and row["sockets"] == 1
    fds = ip.run_line_magic("wasix", "fds bg1")
    assert list(fds["fd"]) == [0, 1, 2, 3] and fds.iloc[3]["state"] == "opened"
    # re-running a cell with the same name kills the old process first
    cell(ip, "--bg -n bg1 --no-live", BG_LOOP)
    assert proc.status == "killed" and proc.done.is_set()
    new = ip.user_ns["bg1"]
    assert new is not proc
    ip.run_line_magic("wasix", "kill bg1")
    assert new.status == "killed"
    cell(ip, "--bg -n bg2 --no-live", BG_LOOP)
    cell(ip, "--bg -n bg3 --no-live", BG_LOOP)
    ip.run_line_magic("wasix", "kill --all")
    assert ip.user_ns["bg2"].status == ip.user_ns["bg3"].status == "killed"
    assert count_os_fds() == before
