"""The `processes` real WASIX binaries (fork, vfork, spawn, setjmp/longjmp, dash) match the reference
outputs byte for byte."""

import pytest

from realwasix import cases, check, run_case

READY = {"example-longjmp", "example-fork", "example-vfork", "example-spawn", "dash-c"}


@pytest.mark.parametrize(
    "case",
    [c for c in cases("processes") if c is None or not isinstance(c, dict) or c["name"] in READY],
    ids=lambda c: c["name"] if isinstance(c, dict) else "missing",
)
def test_processes(case, tmp_path):
    check(case, run_case(case, tmp_path))
