"""JupyterLab in Debian chromium: a forking program's live panel shows its process tree and the pipe both
processes hold; `proc.processes` and `proc.lsof()` render as tables; `%wasix kill` ends the tree.  The
saved timelines of tutorial 8, opened untrusted, show one band per process."""

import base64
import os
import re
import shutil
import time

import pytest

from labserver import IDLE_JS, ROOT, launch, open_page, require_browser, serve, write_notebook
from test_browser import ARTIFACTS, command, sync_playwright
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


TUTORIAL = "08-processes.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_browser()
    if wasmopt.wasm_opt() is None:
        pytest.skip("wasm-opt not found (apt-get install binaryen)")
    tmp = tmp_path_factory.mktemp("lab")
    (tmp / "root").mkdir()
    write_notebook(tmp / "root" / "procs.ipynb", CELLS)
    write_notebook(tmp / "root" / "dark.ipynb", CELLS[:3])
    shutil.copy(os.path.join(ROOT, "notebooks", TUTORIAL), tmp / "root" / TUTORIAL)  # a fresh copy: untrusted
    with serve(tmp) as url:
        yield url


OUT_JS = """(i) => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const o = c && c.querySelector('.jp-OutputArea'); return o ? o.innerText : ''; }"""


def test_process_tree_and_lsof_in_jupyterlab(lab):
    os.makedirs(ARTIFACTS, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = open_page(browser, lab + "/lab/tree/procs.ipynb", errors)
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


# every timeline picture: loaded, its size, its SVG text, and how many of its pixels have the fork colour
BANDS_JS = """async () => Promise.all([...document.querySelectorAll('img.wx-timeline-img')].map(async (img) => {
  await img.decode();
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let fork = 0, band = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - 0x00) < 30 && Math.abs(d[i + 1] - 0x89) < 30 && Math.abs(d[i + 2] - 0x7b) < 30) fork++;
    if (d[i] === 0xf0 && d[i + 1] === 0xf0 && d[i + 2] === 0xf0) band++;
  }
  return {ok: img.complete && img.naturalWidth > 0, w: img.naturalWidth, h: img.naturalHeight,
          shown: img.getBoundingClientRect().width, src: img.src, fork, band};
}))"""


def test_tutorial_timelines_show_one_band_per_process_untrusted(lab):
    """The saved forking server and pipeline of tutorial 8, as a new user opens them (not trusted): each
    timeline picture is drawn, with a band per process (its label, its backdrop) and the fork marks."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = open_page(browser, f"{lab}/lab/tree/{TUTORIAL}", errors)
            trusted = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.get(3).trusted")
            assert trusted is False
            page.wait_for_function("() => document.querySelectorAll('img.wx-timeline-img').length >= 2", timeout=30_000)
            imgs = page.evaluate(BANDS_JS)
            assert len(imgs) == 2 and all(i["ok"] and i["w"] >= 600 and i["shown"] >= 600 for i in imgs), [
                {k: v for k, v in i.items() if k != "src"} for i in imgs
            ]
            svgs = [base64.b64decode(i["src"].split(",", 1)[1]).decode() for i in imgs]
            labels = [re.findall(r'wx-band-label"[^>]*>([^<]+)<', s) for s in svgs]
            server, pipeline = labels
            assert server[:2] == ["pid 1 forker", "pid 2 forker · ppid 1"] and len(server) == 5, server
            assert pipeline == ["pid 1 pipeline", "pid 2 echo · ppid 1", "pid 3 cat · ppid 1"], pipeline
            assert ">exec echo</text>" in svgs[1] and ">exec cat</text>" in svgs[1]
            # drawn, not only written: the fork lines' teal and the bands' backdrop are on the picture
            for i, n in zip(imgs, (4, 2)):
                assert i["fork"] >= 20 * n and i["band"] > i["w"] * 16 * n, {k: i[k] for k in ("fork", "band", "h")}
            text = page.locator(".jp-Notebook").inner_text()
            assert "pid 2 forker" not in text and "opened by call" not in text  # no SVG text run on
            page.locator("img.wx-timeline-img").nth(0).screenshot(path=os.path.join(ARTIFACTS, "process-bands.png"))
            page.locator("img.wx-timeline-img").nth(1).screenshot(
                path=os.path.join(ARTIFACTS, "process-bands-pipeline.png")
            )
        finally:
            browser.close()
    assert not errors, errors


# the live panel's inline timeline: band labels against their band's backdrop, as the theme colours them
DARK_JS = """() => {
  const lum = (c) => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(x => x / 255)
      .map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const svg = document.querySelector('.wasix-panel svg.wx-timeline');
  const band = svg && svg.querySelector('rect.wx-tl-band');
  if (!band) return null;
  const bg = getComputedStyle(band).fill;
  const labels = [...svg.querySelectorAll('text.wx-band-label')];
  return {bg, labels: labels.map(t => t.childNodes[0].textContent),
          worst: Math.min(...labels.map(t => ratio(getComputedStyle(t).fill, bg)))};
}"""


def test_live_panel_bands_follow_the_dark_theme(lab):
    os.makedirs(ARTIFACTS, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = open_page(browser, lab + "/lab/tree/dark.ipynb", errors)
            command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
            page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
            page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
            c, t0 = None, time.monotonic()
            while time.monotonic() - t0 < 120:
                c = page.evaluate(DARK_JS)
                if c and len(c["labels"]) == 2:
                    break
                time.sleep(0.1)
            assert c and c["labels"] == ["pid 1 forker", "pid 2 forker · ppid 1"], c
            assert c["worst"] >= 4.5 and c["bg"] != "rgb(240, 240, 240)", c  # the theme's colours, readable
            page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=os.path.join(ARTIFACTS, "bands-dark-live.png"))
            page.evaluate(
                """(src) => { const nb = window.jupyterapp.shell.currentWidget.content;
                nb.model.sharedModel.insertCell(3, {cell_type: 'code', source: src}); nb.activeCellIndex = 3; }""",
                "%wasix kill forker",
            )
            page.wait_for_function(IDLE_JS, timeout=60_000)
            command(page, "notebook:run-cell")
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-Notebook .jp-Cell')[1].innerText.includes('killed')",
                timeout=60_000,
            )
            command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
        finally:
            browser.close()
    assert not errors, errors
