"""Build the tutorial notebooks in notebooks/ from tools/nbsrc/NN_*.py, and optionally execute them.

    python tools/make_notebooks.py                 # write every notebook, no outputs
    python tools/make_notebooks.py --execute       # ... and execute each with a real kernel, saving outputs
    python tools/make_notebooks.py --execute 03    # only the notebooks whose name starts with 03

Each source module defines NAME (the file name without .ipynb), CELLS, a list of `md(text)` and
`code(text, tags=...)`, and optionally REQUIRES, the host calls it needs ("module.name"), stored in the
notebook metadata for tests/test_notebooks.py.  Cell ids are deterministic (`<NN>-<index>`), so
rebuilding gives the same ids.
Execution is done the Binder way: the extension is preloaded through an IPython kernel config in a
temporary IPYTHONDIR (no %load_ext in the notebooks), in a temporary copy of notebooks/, without
timing metadata or widget state; widget views are dropped from the saved outputs and their static
fallback (the HTML tables) kept, so GitHub and nbconvert show the tables.
"""

import argparse
import importlib.util
import os
import pathlib
import shutil
import sys
import tempfile
import textwrap

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "tools" / "nbsrc"
OUT = ROOT / "notebooks"
KERNEL_CONFIG = 'c.InteractiveShellApp.extensions = ["wasix_nb"]\n'


def md(text):
    return ("markdown", textwrap.dedent(text).strip("\n"), ())


def code(text, tags=()):
    return ("code", textwrap.dedent(text).strip("\n"), tuple(tags))


def load_sources(prefixes=()):
    mods = []
    for path in sorted(SRC.glob("[0-9][0-9]_*.py")):
        if prefixes and not any(path.name.startswith(p) for p in prefixes):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods


def build(mod):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    if getattr(mod, "REQUIRES", None):  # host calls the notebook needs (tests skip it until they exist)
        nb.metadata["wasix_nb"] = {"requires": list(mod.REQUIRES)}
    num = mod.NAME[:2]
    for i, (kind, text, tags) in enumerate(mod.CELLS):
        cell = nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
        cell.id = f"{num}-{i:02d}"
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    return nb


def binder_env(tmp):
    """Environment variables for a kernel that preloads wasix_nb the way binder/postBuild does."""
    ipdir = pathlib.Path(tmp, "ipython")
    (ipdir / "profile_default").mkdir(parents=True, exist_ok=True)
    (ipdir / "profile_default" / "ipython_kernel_config.py").write_text(KERNEL_CONFIG)
    env = dict(os.environ, IPYTHONDIR=str(ipdir))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(ROOT)) if p)
    return env


def execute(nb, name, timeout=180):
    import nbclient

    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp, "notebooks")
        shutil.copytree(OUT, work, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
        env = binder_env(tmp)
        old = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            client = nbclient.NotebookClient(
                nb,
                kernel_name="python3",
                timeout=timeout,
                record_timing=False,
                store_widget_state=False,
                resources={"metadata": {"path": str(work)}},
            )
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(old)
    return strip_widget_views(nb)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def strip_widget_views(nb):
    """Saved notebooks keep no widget state, so a widget view could only show 'model not found' and
    a random model id.  Keep the static fallback (text/html tables) and drop outputs that have none."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.outputs:
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                if "text/html" not in data:
                    continue
                del data[WIDGET_VIEW]
            kept.append(out)
        cell.outputs = kept
    return nb


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--execute", action="store_true")
    ap.add_argument("only", nargs="*", help="notebook name prefixes (e.g. 01 03)")
    a = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    for mod in load_sources(a.only):
        nb = build(mod)
        if a.execute:
            print(f"executing {mod.NAME} ...", flush=True)
            nb = execute(nb, mod.NAME)
        path = OUT / f"{mod.NAME}.ipynb"
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(SRC.parent))
    main()
