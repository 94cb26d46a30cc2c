import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests import watlib, wat_core, programs

import pytest  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

from wat_core import Driver  # noqa: E402


def open_fds() -> int:
    """Entries of /proc/self/fd, less wasmtime's per-module memory images (a compiled module, cached
    for reuse, keeps a memfd of its data segments: not a descriptor any program opened)."""
    n = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if "wasm-memory-image" in os.readlink(f"/proc/self/fd/{name}"):
                continue
        except OSError:
            continue  # the descriptor listdir itself used
        n += 1
    return n


def wait_for(pred, timeout=5.0, step=0.005):
    """Poll `pred` until it returns something true (bounded); returns it or fails the test."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    pytest.fail(f"condition not met within {timeout} s")


_DURATION = re.compile(r" <\d+\.\d{6}>$")


def untimed(line: str) -> str:
    """A trace line without the ` <0.001234>` strace puts after a call that took 1 ms or more: how long
    a call took depends on the machine's load, so an exact line must not."""
    return _DURATION.sub("", line)


def listening_port(proc, timeout=5.0) -> int:
    """The port of the program's listening socket, read from its descriptor table."""
    row = wait_for(lambda: next((r for r in proc.host.fds.rows() if r["state"] == "listening"), None), timeout)
    return int(row["local"].rsplit(":", 1)[1])


@pytest.fixture
def no_leak():
    """Fails the test if it leaves OS descriptors open (after a warm-up that loads the engine)."""
    import wasix_nb
    from watlib import Shim

    Shim().close()
    # makes the interpreter-wide helpers, kept for good: the SIGINT watcher's pipe, the deadline thread
    wasix_nb.run('(module (func (export "_start")))', timeout=60)
    before = open_fds()
    yield
    wait_for(lambda: open_fds() <= before, timeout=2.0)
    assert open_fds() == before


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def driver():
    made = []

    def make(*names, **opts):
        d = Driver(*names, **opts)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With WASIX_NB_STRICT=1 (set by .ci/run, which installs every tool) a skip is a failure."""
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("WASIX_NB_STRICT") == "1" and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped in strict mode (CI installs every tool, so nothing may skip): {reason}"


def cell(ip, line, body):
    """Run a %%wasix cell in an in-process shell; returns the captured output."""
    with capture_output() as cap:
        ip.run_cell_magic("wasix", line, body)
    return cap
