"""The `basic` real WASIX binaries (built by Wasmer) keep matching the reference outputs byte for byte."""

import pytest

from realwasix import cases, check, run_case


@pytest.mark.parametrize("case", cases("basic"), ids=lambda c: c["name"] if c else "missing")
def test_basic(case, tmp_path):
    check(case, run_case(case, tmp_path))
