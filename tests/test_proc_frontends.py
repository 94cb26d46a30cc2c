"""The command map through every front door: the CLI's --map-command, the magic's --map-command and
`%config WasixMagics.commands`, and the API's commands= (tests/test_dash.py)."""

import os
import subprocess
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from realwasix import folder
from test_dash import CAT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def dash():
    where = folder()
    if where is None:
        pytest.skip("real WASIX binaries not found: set $WASIX_NB_REALWASIX")
    return os.path.join(where, "dash.wasm")


@pytest.fixture
def cat(tmp_path):
    p = tmp_path / "cat.wat"
    p.write_text(CAT)
    return str(p)


def test_cli_map_command(dash, cat):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "wasix_nb",
            "run",
            "--map-command",
            f"cat={cat}",
            dash,
            "--",
            "-c",
            "echo via cli | cat",
        ],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert (r.returncode, r.stdout) == (0, b"via cli\n"), r.stderr


def test_magic_map_command_and_config(dash, cat):
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "wasix_nb")
    try:
        with capture_output() as cap:
            ip.run_line_magic("wasix", f"run {dash} --no-live --map-command cat={cat} -- -c 'echo one | cat'")
        assert "one\n" in cap.stdout
        ip.run_line_magic("config", f"WasixMagics.commands = {{'cat': {cat!r}}}")
        with capture_output() as cap:
            ip.run_line_magic("wasix", f"run {dash} --no-live -- -c 'echo two | cat'")
        assert "two\n" in cap.stdout
    finally:
        ip.run_line_magic("config", "WasixMagics.commands = {}")
        ip.run_line_magic("unload_ext", "wasix_nb")


def test_magic_ps_shows_the_tree_and_lsof_the_holders():
    import time
    from test_fork import HANG
    from conftest import cell, wait_for

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "wasix_nb")
    try:
        cell(ip, "--bg -n forker --no-live", HANG)
        proc = ip.user_ns["forker"]
        wait_for(lambda: proc.procs is not None and len(proc.processes) == 2, timeout=30)
        ps = ip.run_line_magic("wasix", "ps")
        mine = ps[ps["name"] == "forker"]
        assert list(mine.pid) == [1, 2] and list(mine.parent) == [0, 1]
        assert mine.program.iloc[1].startswith("  ")  # the child is indented under its parent
        lsof = ip.run_line_magic("wasix", "lsof forker")
        assert set(lsof["count"]) == {2}
        ip.run_line_magic("wasix", "kill forker")
        time.sleep(0.1)
        assert all(p.done.is_set() for p in proc.procs.every())
    finally:
        ip.run_line_magic("unload_ext", "wasix_nb")
