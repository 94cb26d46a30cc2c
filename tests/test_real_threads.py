"""The `threads` real WASIX binaries (built by Wasmer) match the reference outputs under their match rule."""

import pytest

from realwasix import cases, check, run_case

_NEEDS_FORK = {}


def _params():
    out = []
    for c in cases("threads"):
        name = c["name"] if isinstance(c, dict) else None
        if name in _NEEDS_FORK:
            out.append(pytest.param(c, id=name, marks=pytest.mark.xfail(reason=_NEEDS_FORK[name], strict=False)))
        else:
            out.append(c if not isinstance(c, dict) else pytest.param(c, id=name))
    return out


@pytest.mark.parametrize("case", _params())
def test_threads(case, tmp_path):
    check(case, run_case(case, tmp_path))
