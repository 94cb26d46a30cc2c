"""The interrupt button of a real Jupyter kernel reaches a %%wasix program's own SIGINT handler: the
program says it started, the kernel is interrupted, the handler ends it with its own exit code, the
cell succeeds and the kernel lives."""

import time

import pytest

pytest.importorskip("ipykernel")
pytest.importorskip("jupyter_client")

pytestmark = pytest.mark.kernel

# prints "looping", spins in pure wasm until its handler stored the signal, prints "got 2", exits 0
HANDLED = """%%wasix --no-live -n handled
(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "looping\\n")
  (data (i32.const 32) "got 0\\n")
  (data (i32.const 400) "__wasm_signal")
  (func $print (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p)) (i32.store (i32.const 4) (local.get $n))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "__wasm_signal") (param $sig i32) (i32.store (i32.const 76) (local.get $sig)))
  (func (export "_start")
    (call $cb (i32.const 400) (i32.const 13))
    (call $print (i32.const 16) (i32.const 8))
    (loop $l (br_if $l (i32.eqz (i32.load (i32.const 76)))))
    (i32.store8 (i32.const 36) (i32.add (i32.const 48) (i32.load (i32.const 76))))
    (call $print (i32.const 32) (i32.const 6))))"""


def test_kernel_interrupt_runs_the_programs_handler_and_the_cell_succeeds():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive("%load_ext wasix_nb", timeout=60)
        msg_id = kc.execute(HANDLED)
        seen = []
        while True:  # interrupt only once the program runs (it says so first)
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                seen.append(msg["content"]["text"])
                if "looping" in "".join(seen):
                    break
        time.sleep(0.3)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=10)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=10)
        assert reply["content"]["status"] == "ok", reply["content"]
        while True:  # the rest of the cell's output
            msg = kc.get_iopub_msg(timeout=10)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                seen.append(msg["content"]["text"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert "got 2" in "".join(seen)
        out = []
        r = kc.execute_interactive(
            "print(handled.status, handled.exit_code, 'SIGINT' in handled.message)",
            timeout=30,
            output_hook=lambda m: out.append(m["content"].get("text", "")),
        )
        assert r["content"]["status"] == "ok" and "returned 0 True" in "".join(out)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
