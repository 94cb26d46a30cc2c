"""JupyterLab in Debian chromium: a forking program's live panel shows its process tree and the pipe both
processes hold; `proc.processes` and `proc.lsof()` render as tables; `%wasix kill` ends the tree."""

import os
import time

import pytest

from labserver import CHROMIUM, require_browser, serve, write_notebook
from test_browser import ARTIFACTS, IDLE_JS, sync_playwright
from test_fork import HANG
from wasix_nb import wasmopt

pytestmark = pytest.mark.browser

WAIT = """import time
for _ in range(1200):
    if forker.procs is not None and len(forker.processes) == 2 and "fd_read" in forker.processes.state.iloc[1] \\
            and "proc_join" in forker.processes.state.iloc[0]:
        break
    time.sleep(0.05)
"""
CELLS = [
    "%load_ext wasix_nb",
    "%%wasix --bg -n forker\n" + HANG,
    WAIT + "forker.processes",
    "forker.lsof()",
    "time.sleep(4)\n%wasix kill forker\nforker.processes",
]  # 4 s to see the live panel


@pytest.fixture
def lab(tmp_path):
    require_browser()
    if wasmopt.wasm_opt() is None:
        pytest.skip("wasm-opt not found (apt-get install binaryen)")
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / "procs.ipynb", CELLS)
    with serve(tmp_path) as url:
        yield url


OUT_JS = """(i) => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const o = c && c.querySelector('.jp-OutputArea'); return o ? o.innerText : ''; }"""


def test_process_tree_and_lsof_in_jupyterlab(lab):
    os.makedirs(ARTIFACTS, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2600})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(lab + "/lab/tree/procs.ipynb?reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=30_000)
            page.wait_for_function(IDLE_JS, timeout=30_000)
            page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
            panel = tree = lsof = final = live = ""
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120:
                panel, tree, lsof, final = (page.evaluate(OUT_JS, i) for i in (1, 2, 3, 4))
                if "processes" in panel and "blocked in fd_read on fd 3" in panel and not live:
                    live = panel  # the live panel, while both processes run
                    page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(
                        path=os.path.join(ARTIFACTS, "processes-panel.png")
                    )
                if final.count("killed") >= 2 and "killed" in panel:
                    break
                time.sleep(0.1)
            assert "blocked in proc_join" in tree and "blocked in fd_read on fd 3" in tree, tree
            assert "pid 1 fd 3, pid 2 fd 3" in lsof and "pid 1 fd 4, pid 2 fd 4" in lsof, lsof
            assert "shared by several processes" in live and "pid 1 fd 3, pid 2 fd 3" in live, live
            assert "killed" in panel, panel
            assert final.count("killed") >= 2, final  # both processes ended with the kill
        finally:
            browser.close()
    assert not errors, errors
