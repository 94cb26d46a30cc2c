"""%%wasix through a real Jupyter kernel (nbclient): outputs, tables, and failing cells that fail."""

import copy
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.kernel
NB = pathlib.Path(__file__).parent / "notebooks" / "magic_smoke.ipynb"


def execute(nb):
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, store_widget_state=True)
    return client.execute()


def texts(cell):
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            out.append(o.data.get("text/plain", ""))
            out.append(o.data.get("text/html", ""))
        elif o.output_type == "error":
            out.append(o.ename + ": " + o.evalue)
    return "\n".join(out)


def test_notebook_runs_and_shows_tables():
    nb = execute(nbformat.read(NB, as_version=4))
    cells = [c for c in nb.cells if c.cell_type == "code"]
    run = texts(cells[1])
    assert "opened three sockets" in run
    assert "exited 0 · 5 calls · 0 errors" in run
    assert "<table" in run and "LOCAL" in run
    assert "('returned', [0, 1, 2, 3, 5])" in texts(cells[2])
    assert "sock_open" in texts(cells[3])
    trap = cells[4]
    assert [o.output_type for o in trap.outputs][-1] == "error"
    err = trap.outputs[-1]
    assert err.ename == "ProgramTrapped" and "unreachable" in "\n".join(err.traceback)
    assert not any("site-packages" in line for line in err.traceback), "no Python internals shown"
    assert "kernel still alive" in texts(cells[5])


def test_failing_cell_fails_the_notebook():
    nb = nbformat.read(NB, as_version=4)
    nb = copy.deepcopy(nb)
    nb.cells[5].metadata["tags"] = []  # the trap cell no longer expects to fail
    with pytest.raises(nbclient.exceptions.CellExecutionError) as ei:
        execute(nb)
    assert "ProgramTrapped" in str(ei.value)


LOOP_AFTER_PRINT = """%%wasix --no-live
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "looping\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 8))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop $l (br $l))))"""


def test_kernel_interrupt_stops_an_infinite_loop_and_the_kernel_lives():
    import time

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive("%load_ext wasix_nb", timeout=60)
        msg_id = kc.execute(LOOP_AFTER_PRINT)
        while True:  # interrupt only once the program runs (it says so first)
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "stream" and "looping" in msg["content"]["text"]:
                break
        time.sleep(0.3)
        t0 = time.perf_counter()
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=10)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=10)
        took = time.perf_counter() - t0
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "ProgramInterrupted"
        assert took < 1.0, f"interrupt took {took:.2f} s"
        out = []
        for _ in range(3):  # ipykernel aborts requests that race with the error reply (stop_on_error)
            r = kc.execute_interactive(
                "print(6 * 7)", timeout=30, output_hook=lambda m: out.append(m["content"].get("text", ""))
            )
            if r["content"]["status"] != "aborted":
                break
            time.sleep(0.2)
        assert r["content"]["status"] == "ok" and "42" in "".join(out)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
