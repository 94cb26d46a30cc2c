import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import pytest

from wat_core import Driver


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
