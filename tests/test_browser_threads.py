"""JupyterLab in Debian chromium: a background multi-threaded program's live panel shows its threads
section, each thread with what it is blocked on, while it runs; a kill ends them all."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from threadprogs import program, spawn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
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

IDLE_JS = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
  .some(e => e.textContent.trim().endsWith('| Idle'))"""


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
    root, cfg = tmp_path / "root", tmp_path / "config"
    (cfg / "labconfig").mkdir(parents=True)
    root.mkdir()
    (cfg / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "threads.ipynb")
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), PYTHONPATH=ROOT)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=open(tmp_path / "server.log", "wb"),
        stderr=subprocess.STDOUT,
    )
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


def test_panel_shows_every_thread_and_what_it_waits_on(lab):
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
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(lab + "/lab/tree/threads.ipynb?reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=30_000)
            page.wait_for_function(IDLE_JS, timeout=30_000)
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
