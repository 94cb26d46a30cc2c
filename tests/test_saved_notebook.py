"""`jupyter nbconvert --execute --to html` (a real kernel, no widget state, no browser) shows the final
tables and the timeline picture of foreground and background cells: nothing refers to a widget model."""

import os
import subprocess
import sys

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from programs import sockets  # noqa: E402

pytestmark = pytest.mark.kernel
pytest.importorskip("nbconvert")


def test_nbconvert_execute_to_html_shows_tables_and_timeline(tmp_path):
    wat = sockets(count=3, wait_ms=20)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(c)
        for c in (
            "%load_ext wasix_nb",
            "%%wasix -n fg\n" + wat,  # the live panel, foreground
            "%%wasix --bg -n bg\n" + sockets(count=100, wait_ms=100),  # background, killed below
            "%wasix kill bg",
        )
    ]
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--execute",
            "--to",
            "html",
            "--ExecutePreprocessor.timeout=120",
            str(path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    html = (tmp_path / "run.html").read_text()
    assert "fg: exited 0" in html and "bg: killed" in html
    assert html.count('id="T_wasix-fg') >= 3 and html.count('id="T_wasix-bg') >= 1
    assert html.count('class="wx-timeline-img"') == 2 and "data:image/svg+xml;base64," in html
    assert '<script type="application/vnd.jupyter.widget-view+json">' not in html  # no widget view left
