"""JupyterLab in Debian chromium, as users open notebooks:

- the live panel grows while a cell runs, then the output becomes the final tables and the timeline picture
  (foreground and --bg);
- a fresh, untrusted copy of a tutorial shows its timelines as pictures, never as run-on text;
- run, save, stop the kernel, reopen: the tables are there and no "Error displaying widget";
- after a kernel restart a background panel says its process is gone;
- JupyterLab Dark: the timeline's labels contrast with their backdrop (inline and as a picture).

Screenshots go to artifacts/ (and one to docs/screenshot.png when missing or with WASIX_NB_SCREENSHOT=1).
"""

import json
import os
import re
import shutil
import signal
import time
import urllib.request

import nbformat
import pytest

from labserver import IDLE_JS, ROOT, launch, open_page, require_browser, serve, write_notebook  # noqa: E402, F401

ARTIFACTS = os.path.join(ROOT, "artifacts")

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

from programs import sockets  # noqa: E402

# what a user types: load the extension, then %%wasix cells
SETUP = "%load_ext wasix_nb"

# stdin for a gated program (programs.sockets(gate=True)): its k-th read waits for the file PREFIX-k,
# which the test writes once the browser showed the table the program has so far, so every state reaches
# the page however loaded the machine is (a minute at most: then the test fails on its own)
GATE = """import os, time

def gate(prefix):
    k = [0]

    def read(n):
        k[0] += 1
        end = time.monotonic() + 60
        while not os.path.exists(f"{prefix}-{k[0]}") and time.monotonic() < end:
            time.sleep(0.02)
        return b"x"

    return read
"""

# runs for a minute unless killed
LONG = "%%wasix --bg -n long\n" + sockets(count=300, wait_ms=200)

WIDGET_ERROR = "Error displaying widget"


class Lab:
    def __init__(self, url, root):
        self.url, self.root = url, root

    def api(self, method, path):
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def write(self, name, cells, source=None):
        if source is not None:
            shutil.copy(source, self.root / name)
            return
        write_notebook(self.root / name, cells)

    def kernel_of(self, path):
        """The id of the kernel of the notebook at `path`."""
        return next(s["kernel"]["id"] for s in self.api("GET", "/api/sessions") if s["path"] == path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("lab")
    (tmp / "root").mkdir()
    shutil.copytree(
        os.path.join(ROOT, "notebooks"), tmp / "root" / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    with serve(tmp) as url:
        yield Lab(url, tmp / "root")


@pytest.fixture
def browser(lab):
    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as pw:
        b = launch(pw)
        errors = []
        b.page_errors = errors
        try:
            yield b
        finally:
            b.close()
        assert not errors, errors


ROWS_JS = """(i) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  if (!cell) return null;
  const prompt = cell.querySelector('.jp-InputPrompt').textContent.trim();
  const t = cell.querySelector('.jp-OutputArea table.wx-fds');
  return {prompt, rows: t ? t.querySelectorAll('tr').length - 1 : -1,
          status: (cell.querySelector('.wx-status') || {}).textContent || '',
          saved: (cell.querySelector('.wasix-result p') || {}).textContent || '',
          widget: !!cell.querySelector('.jp-OutputArea .wasix-panel')};
}"""

# every timeline picture in the page: loaded, and how big
IMGS_JS = """() => [...document.querySelectorAll('img.wx-timeline-img')]
  .map(i => ({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth, h: i.naturalHeight}))"""


def open_notebook(browser, lab, path, width=1280, height=2600):
    return open_page(browser, f"{lab.url}/lab/tree/{path}", browser.page_errors, width, height)


def command(page, cmd, args=None):
    page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a || {})", [cmd, args])


def run_all(page):
    page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()


def wait_cell(page, i, pred, timeout=30):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        s = page.evaluate(ROWS_JS, i)
        if s and pred(s):
            return s
        time.sleep(0.05)
    pytest.fail(f"cell {i}: {page.evaluate(ROWS_JS, i)}")


def test_panel_grows_live_then_becomes_the_final_tables(lab, browser):
    # 8 times: sock_open, wait 200 ms with poll_oneoff; then reuse fd 5 and fail one close.  A second
    # cell does it 6 times with --bg (returns at once; the panel keeps following the program).  Each reads
    # a byte of stdin before each socket and after the last: the test lets it go on once the page shows
    # the table so far (2 + k rows before read k)
    live_gate, bg_gate = lab.root / "gate-live", lab.root / "gate-bg"
    setup = f"{SETUP}\n{GATE}\nlive_gate, bg_gate = gate({str(live_gate)!r}), gate({str(bg_gate)!r})"
    live = "%%wasix -n sockets --stdin live_gate\n" + sockets(count=8, wait_ms=200, gate=True)
    background = "%%wasix --bg -n background --stdin bg_gate\n" + sockets(count=6, wait_ms=400, gate=True)
    lab.write("live.ipynb", [setup, live, background])
    page = open_notebook(browser, lab, "live.ipynb")
    run_all(page)
    seen, shots, step, t0 = [], 0, 1, time.monotonic()
    while time.monotonic() - t0 < 120:
        s = page.evaluate(ROWS_JS, 1)
        if s and s["rows"] >= 0:
            running = s["prompt"].startswith("[*]")
            seen.append((running, s["rows"]))
            if running and shots < 3 and s["rows"] in (5, 7, 9):
                shots += 1
                page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(
                    path=os.path.join(ARTIFACTS, f"live-{s['rows']}-rows.png")
                )
            if running and step <= 9 and s["rows"] == 2 + step:
                (live_gate.parent / f"{live_gate.name}-{step}").touch()
                step += 1
        if s and "exited 0" in s["saved"]:
            break
        time.sleep(0.05)
    running_counts = sorted({n for r, n in seen if r})
    assert len([n for n in running_counts if 3 < n < 11]) >= 4, seen  # grew row by row while [*]
    live_order = [n for r, n in seen if r]
    assert live_order == sorted(live_order), seen
    # the end: the widget view is replaced by the final tables and the timeline picture
    final = wait_cell(page, 1, lambda s: "exited 0" in s["saved"] and not s["prompt"].startswith("[*]"))
    assert not final["widget"], final
    out = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea")
    assert out.locator("table.dataframe").count() >= 3
    assert out.locator("table.dataframe").first.locator("tbody tr").count() == 11  # stdio + 8 sockets (5 reused)
    assert out.locator("img.wx-timeline-img").count() == 1

    # the background cell returns at once; its panel keeps growing afterwards, then ends the same way
    bg_seen, step, t0 = [], 1, time.monotonic()
    while time.monotonic() - t0 < 120:
        s = page.evaluate(ROWS_JS, 2)
        if s and s["rows"] >= 0:
            running = s["prompt"].startswith("[*]")
            bg_seen.append((running, s["rows"]))
            if not running and step <= 7 and s["rows"] == 2 + step:
                (bg_gate.parent / f"{bg_gate.name}-{step}").touch()
                step += 1
        if s and "exited 0" in s["saved"]:
            break
        time.sleep(0.05)
    assert len({n for r, n in bg_seen if not r and n < 9}) >= 2, bg_seen  # grew after [3]
    s = wait_cell(page, 2, lambda s: "exited 0" in s["saved"])
    assert not s["widget"]
    imgs = page.evaluate(IMGS_JS)
    assert len(imgs) == 2 and all(i["ok"] for i in imgs), imgs
    page.locator(".jp-Notebook .jp-Cell").nth(2).screenshot(path=os.path.join(ARTIFACTS, "background.png"))
    # for the picture, show only the first lines of the long WAT input
    page.evaluate("""() => { const e = document.querySelectorAll('.jp-Notebook .jp-Cell')[1]
        .querySelector('.jp-InputArea-editor'); e.style.maxHeight = '150px'; e.style.overflow = 'hidden'; }""")
    shot = os.path.join(ARTIFACTS, "final.png")
    page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=shot)
    doc = os.path.join(ROOT, "docs", "screenshot.png")
    if not os.path.exists(doc) or os.environ.get("WASIX_NB_SCREENSHOT") == "1":
        os.makedirs(os.path.dirname(doc), exist_ok=True)
        shutil.copy(shot, doc)


def test_untrusted_tutorial_shows_timelines_as_pictures(lab, browser):
    """A fresh copy of tutorial 3, opened as a new user does (not trusted): the saved timelines are
    pictures, no output shows the SVG's text as run-on garbage, and no widget error."""
    page = open_notebook(browser, lab, "notebooks/03-tcp-echo-server.ipynb")
    page.wait_for_selector(".jp-OutputArea-output", timeout=30_000)
    trusted = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.get(1).trusted")
    assert trusted is False
    page.wait_for_function(
        f"() => {{ const i = ({IMGS_JS})(); return i.length >= 2 && i.every(x => x.ok); }}", timeout=30_000
    )
    imgs = page.evaluate(IMGS_JS)
    assert len(imgs) >= 2 and all(i["ok"] and i["w"] >= 600 for i in imgs), imgs
    text = page.locator(".jp-Notebook").inner_text()
    assert "descriptor timeline" not in text and "opened by call" not in text and "fd 0: stdin" not in text
    assert WIDGET_ERROR not in text
    assert page.locator(".jp-OutputArea table.dataframe").count() >= 4
    # the conversation (srv.follow()) keeps its two colours untrusted
    colours = page.evaluate("""() => ['in', 'out'].map(d => { const e = document.querySelector(
        '.wx-stream span.wx-' + d); return e && getComputedStyle(e).color; })""")
    assert colours == ["rgb(192, 57, 43)", "rgb(31, 111, 178)"], colours
    page.screenshot(path=os.path.join(ARTIFACTS, "untrusted-tutorial.png"), full_page=True)


def test_run_save_stop_reopen_has_tables_and_no_widget_error(lab, browser):
    lab.write(
        "saved.ipynb",
        [
            SETUP,
            "%%wasix -n fg\n" + sockets(count=3, wait_ms=50),
            "%%wasix --bg -n bg\n" + sockets(count=100, wait_ms=100),
            "%wasix kill bg",
        ],
    )
    page = open_notebook(browser, lab, "saved.ipynb")
    run_all(page)
    wait_cell(page, 1, lambda s: "exited 0" in s["saved"])
    wait_cell(page, 2, lambda s: "killed" in s["saved"] and not s["widget"])
    page.wait_for_function(IDLE_JS, timeout=30_000)
    command(page, "docmanager:save")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        nb = nbformat.read(lab.root / "saved.ipynb", as_version=4)
        if nb.cells[2].outputs:
            break
        time.sleep(0.2)
    for c in nb.cells:
        for o in c.get("outputs", []):
            assert "application/vnd.jupyter.widget-view+json" not in o.get("data", {}), (c.source[:30], o)
    lab.api("DELETE", f"/api/kernels/{lab.kernel_of('saved.ipynb')}")
    page.close()
    page = open_notebook(browser, lab, "saved.ipynb")
    page.wait_for_selector(".jp-OutputArea table.dataframe", timeout=30_000)
    time.sleep(1.0)  # a widget view would show its error by now
    text = page.locator(".jp-Notebook").inner_text()
    assert WIDGET_ERROR not in text and "fg: exited 0" in text and "bg: killed" in text
    assert page.locator(".jp-OutputArea table.dataframe").count() >= 4
    page.wait_for_function(
        f"() => {{ const i = ({IMGS_JS})(); return i.length == 2 && i.every(x => x.ok); }}", timeout=30_000
    )


def test_background_panel_says_gone_after_kernel_restart(lab, browser):
    """The kernel dies (SIGKILL, so nothing can send a last update) and restarts: ipywidgets marks the
    views disconnected, and the panel's CSS replaces the frozen "running" by "process gone".  (A graceful
    restart kills the process first and the panel shows "killed".)"""
    lab.write("restart.ipynb", [SETUP + "\nimport os\nprint('PID', os.getpid())", LONG])
    page = open_notebook(browser, lab, "restart.ipynb")
    run_all(page)
    wait_cell(page, 1, lambda s: s["widget"] and "running" in s["status"] and s["rows"] >= 5)
    gone = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".wx-gone")
    running = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".wx-st.live")
    assert running.is_visible() and not gone.is_visible()
    pid = int(re.search(r"PID (\d+)", page.locator(".jp-Notebook .jp-Cell").nth(0).inner_text()).group(1))
    os.kill(pid, signal.SIGKILL)
    gone.wait_for(state="visible", timeout=20_000)
    assert not running.is_visible()
    assert "process gone" in gone.inner_text()
    page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=os.path.join(ARTIFACTS, "after-restart.png"))


CONTRAST_JS = """() => {
  const lum = (c) => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(x => x / 255)
      .map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const svg = document.querySelector('.wasix-panel svg.wx-timeline');
  if (!svg) return null;
  const bg = getComputedStyle(svg.querySelector('rect.wx-tl-bg')).fill;
  const page = getComputedStyle(document.body).backgroundColor;
  const labels = [...svg.querySelectorAll('text.wx-tl-fg')].map(t => getComputedStyle(t).fill);
  return {bg, page, labels: labels.length, worst: Math.min(...labels.map(l => ratio(l, bg)))};
}"""

# the timeline picture drawn on a canvas: its backdrop and its darkest pixels (the labels)
PIXELS_JS = """async () => {
  const img = document.querySelector('img.wx-timeline-img');
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, 60, c.height).data;     // the lane labels' column
  let light = 0, dark = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { const y = (d[i] + d[i + 1] + d[i + 2]) / 765; n++;
    if (y > 0.9) light++; if (y < 0.35) dark++; }
  return {light: light / n, dark: dark / n};
}"""


def test_dark_theme_labels_contrast(lab, browser):
    lab.write("dark.ipynb", [SETUP, LONG])
    page = open_notebook(browser, lab, "dark.ipynb")
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
    run_all(page)
    wait_cell(page, 1, lambda s: s["widget"] and s["rows"] >= 5)
    t0 = time.monotonic()
    while (c := page.evaluate(CONTRAST_JS)) is None and time.monotonic() - t0 < 20:
        time.sleep(0.1)
    assert c and c["labels"] >= 5, c
    assert c["worst"] >= 4.5, c  # inline (live panel): the theme's colours
    assert c["bg"] != "rgb(255, 255, 255)", c  # ... on the theme's own backdrop
    page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=os.path.join(ARTIFACTS, "dark-live.png"))
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-InputPrompt").click()
    lab_kill = "%wasix kill long"
    page.evaluate(
        """(src) => { const nb = window.jupyterapp.shell.currentWidget.content;
        nb.model.sharedModel.insertCell(2, {cell_type: 'code', source: src}); nb.activeCellIndex = 2; }""",
        lab_kill,
    )
    command(page, "notebook:run-cell")
    wait_cell(page, 1, lambda s: "killed" in s["saved"] and not s["widget"])
    page.wait_for_function(
        "() => { const i = document.querySelector('img.wx-timeline-img'); "
        "return i && i.complete && i.naturalWidth > 0; }",
        timeout=20_000,
    )
    px = page.evaluate(PIXELS_JS)
    assert px["light"] > 0.5 and px["dark"] > 0.005, px  # the picture: dark labels on its light card
    page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=os.path.join(ARTIFACTS, "dark-final.png"))
    command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
