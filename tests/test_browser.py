"""JupyterLab in Debian chromium: the panel's descriptor table grows while the cell runs, then shows the
final table and the timeline.  Screenshots go to artifacts/ (and one to docs/screenshot.png)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(ROOT, "artifacts")

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

from programs import sockets  # noqa: E402

# what a user types: load the extension, then %%wasix cells
SETUP = "%load_ext wasix_nb"

# 8 times: sock_open, then wait 200 ms with poll_oneoff; then reuse fd 5 and fail one close
LIVE = "%%wasix -n sockets\n" + sockets(count=8, wait_ms=200)

# --bg returns at once; the panel keeps following the program
BACKGROUND = "%%wasix --bg -n background\n" + sockets(count=4, wait_ms=200)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}")
    if sync_playwright is None:
        pytest.skip("playwright is not installed")
    root = tmp_path / "root"
    cfg = tmp_path / "config"
    (cfg / "labconfig").mkdir(parents=True)
    root.mkdir()
    (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, LIVE, BACKGROUND)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "live.ipynb")
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               PYTHONPATH=ROOT)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
         f"--LabApp.workspaces_dir={tmp_path / 'ws'}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=open(tmp_path / "server.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if urllib.request.urlopen(url + "/api/status", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("jupyterlab did not start: " + (tmp_path / "server.log").read_text()[-2000:])
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


ROWS_JS = """(i) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  if (!cell) return null;
  const prompt = cell.querySelector('.jp-InputPrompt').textContent.trim();
  const t = cell.querySelector('.jp-OutputArea table.wx-fds');
  return {prompt, rows: t ? t.querySelectorAll('tr').length - 1 : -1,
          status: (cell.querySelector('.wx-status') || {}).textContent || ''};
}"""

IDLE_JS = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
  .some(e => e.textContent.trim().endsWith('| Idle'))"""


def test_panel_grows_live_in_jupyterlab(lab):
    os.makedirs(ARTIFACTS, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2600})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(lab + "/lab/tree/live.ipynb?reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=30_000)
            # the trap: the toolbar says idle before any kernel exists; the status bar's "| Idle" does not
            page.wait_for_function(IDLE_JS, timeout=30_000)
            page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

            seen, shots, t0 = [], 0, time.monotonic()
            while time.monotonic() - t0 < 30:
                s = page.evaluate(ROWS_JS, 1)
                if s and s["rows"] >= 0:
                    running = s["prompt"].startswith("[*]")
                    seen.append((running, s["rows"]))
                    if running and shots < 3 and s["rows"] in (5, 7, 9):
                        shots += 1
                        page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(
                            path=os.path.join(ARTIFACTS, f"live-{s['rows']}-rows.png"))
                    if not running and "exited" in s["status"]:
                        break
                time.sleep(0.05)
            running_counts = sorted({n for r, n in seen if r})
            assert len([n for n in running_counts if 3 < n < 11]) >= 4, seen   # grew row by row while [*]
            live_order = [n for r, n in seen if r]
            assert live_order == sorted(live_order), seen
            final = page.evaluate(ROWS_JS, 1)
            assert final["rows"] == 11 and "exited 0" in final["status"], final
            assert not final["prompt"].startswith("[*]")
            out = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea")
            assert out.locator("svg.wx-timeline").count() == 1
            assert out.locator("svg.wx-timeline rect.wx-bar").count() == 12   # 11 open + fd 5 before reuse
            assert "closed" in out.locator(".wx-closed-t").inner_text()

            # the background cell returns at once; its panel keeps growing afterwards
            bg_seen, t0 = [], time.monotonic()
            while time.monotonic() - t0 < 20:
                s = page.evaluate(ROWS_JS, 2)
                if s and s["rows"] >= 0:
                    bg_seen.append((s["prompt"].startswith("[*]"), s["rows"]))
                    if "exited" in s["status"]:
                        break
                time.sleep(0.05)
            assert "exited 0" in s["status"] and s["rows"] == 7, bg_seen
            assert len({n for r, n in bg_seen if not r and n < 7}) >= 2, bg_seen   # grew after [3]
            page.locator(".jp-Notebook .jp-Cell").nth(2).screenshot(path=os.path.join(ARTIFACTS, "background.png"))
            time.sleep(2.2)   # let the highlights fade for the picture
            # for the picture, show only the first lines of the long WAT input
            page.evaluate("""() => { const e = document.querySelectorAll('.jp-Notebook .jp-Cell')[1]
                .querySelector('.jp-InputArea-editor'); e.style.maxHeight = '150px'; e.style.overflow = 'hidden'; }""")
            shot = os.path.join(ARTIFACTS, "final.png")
            page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=shot)
            # the README's picture: written when missing, or on request (a test run leaves git clean)
            doc = os.path.join(ROOT, "docs", "screenshot.png")
            if not os.path.exists(doc) or os.environ.get("WASIX_NB_SCREENSHOT") == "1":
                os.makedirs(os.path.dirname(doc), exist_ok=True)
                shutil.copy(shot, doc)
        finally:
            browser.close()
    assert not errors, errors
