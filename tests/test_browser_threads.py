"""JupyterLab in Debian chromium: a background multi-threaded program's live panel shows its threads
section, each thread with what it is blocked on, while it runs; a kill ends them all."""

import os
import time

import pytest

from threadprogs import program, spawn

from labserver import ROOT, launch, open_page, require_browser, serve, write_notebook  # noqa: E402

ARTIFACTS = os.path.join(ROOT, "artifacts")

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

CELLS = [
    "%load_ext wasix_nb",
    "%%wasix --bg -n threads\n" + program(spawn("spin", "futex", "sleep") + "\n    (call $go (i32.const 2))"),
    "import time; time.sleep(4)\n%wasix kill threads",
]

THREADS_JS = """(i) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  if (!cell) return null;
  const t = cell.querySelector('.jp-OutputArea table.wx-threads');
  return {rows: t ? [...t.querySelectorAll('tr')].slice(1).map(r => r.textContent) : [],
          // the live panel's status line, or (once it ended) the final tables' one
          status: (cell.querySelector('.wx-status') || cell.querySelector('.wasix-result p') || {}).textContent || ''};
}"""


@pytest.fixture
def lab(tmp_path):
    require_browser()
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / "threads.ipynb", CELLS)
    with serve(tmp_path) as url:
        yield url


def test_panel_shows_every_thread_and_what_it_waits_on(lab):
    os.makedirs(ARTIFACTS, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = open_page(browser, lab + "/lab/tree/threads.ipynb", errors, height=2000)
            page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
            live, t0 = None, time.monotonic()
            while time.monotonic() - t0 < 40:
                s = page.evaluate(THREADS_JS, 1)
                if (
                    s
                    and len(s["rows"]) == 4
                    and "running" in s["status"]
                    and sum("blocked in futex_wait on 0x40" in r for r in s["rows"]) == 2
                ):
                    live = s
                    break
                time.sleep(0.1)
            assert live is not None, page.evaluate(THREADS_JS, 1)
            assert any("running wasm" in r for r in live["rows"]) and any("thread_sleep" in r for r in live["rows"])
            page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=os.path.join(ARTIFACTS, "threads-live.png"))
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                s = page.evaluate(THREADS_JS, 1)
                if "killed" in s["status"]:
                    break
                time.sleep(0.1)
            assert "killed" in s["status"], s
        finally:
            browser.close()
    assert not errors, errors
