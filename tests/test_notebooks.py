"""Execute every tutorial in notebooks/ with a real kernel, the way Binder runs them.

The extension is preloaded through an IPython kernel config (the line binder/postBuild writes), never by
a `%load_ext` in the notebook.  A cell tagged `raises-exception` must fail and no other cell may.  Each
notebook must show at least one descriptor table (text/html with `<table`).

With WASIX_NB_BINDER=1 (tests/binder_emulation.sh) the test writes no kernel config of its own: it relies
on the one binder/postBuild put into `sys.prefix/etc/ipython`.

A notebook lists the host calls it needs in its metadata (`wasix_nb.requires`, "module.name"); while one
is not implemented yet (not in `wasix_nb.host.registry.TABLE`), that notebook is skipped, naming it.
"""

import os
import pathlib
import re
import shutil
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.kernel

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
BINDER = os.environ.get("WASIX_NB_BINDER") == "1"


def postbuild_line():
    """The kernel-config line binder/postBuild writes (read from the script, so the two cannot drift)."""
    m = re.search(r"^line='(.*)'$", (ROOT / "binder" / "postBuild").read_text(), re.M)
    assert m, "binder/postBuild has no line='...' assignment"
    return m.group(1)


def missing_calls(nb):
    from wasix_nb.host import calls  # noqa: F401  (registers every host call)
    from wasix_nb.host.registry import TABLE

    need = nb.metadata.get("wasix_nb", {}).get("requires", [])
    return [name for name in need if tuple(name.split(".", 1)) not in TABLE]


def skip_if_missing(nb):
    missing = missing_calls(nb)
    if missing:
        pytest.skip("needs host calls not implemented yet: " + ", ".join(missing))


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    ipdir = tmp_path / "ipython"
    (ipdir / "profile_default").mkdir(parents=True)
    if BINDER:
        conf = pathlib.Path(sys.prefix, "etc", "ipython", "ipython_kernel_config.py")
        assert conf.exists() and postbuild_line() in conf.read_text(), f"postBuild did not write {conf}"
    else:
        (ipdir / "profile_default" / "ipython_kernel_config.py").write_text(postbuild_line() + "\n")
        # the kernel imports the same wasix_nb as this test (whose host calls decided the skips)
        import wasix_nb

        src = str(pathlib.Path(wasix_nb.__file__).resolve().parent.parent)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("IPYTHONDIR", str(ipdir))
    return tmp_path


def outputs_text(cell, mime="text/plain"):
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            out.append(o.data.get(mime, ""))
        elif o.output_type == "error":
            out.append(f"{o.ename}: {o.evalue}")
    return "\n".join(out)


def test_there_are_tutorials():
    names = [p.stem for p in NOTEBOOKS]
    assert names[:6] == [
        "01-basics",
        "02-sock-open",
        "03-tcp-echo-server",
        "04-udp-ipv6-local-poll",
        "05-errors-on-purpose",
        "06-real-program",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean_source(path):
    """No live %load_ext, unique deterministic ids, and saved outputs (GitHub shows the tables)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(path.stem[:2] + "-") for i in ids), "ids come from tools/make_notebooks.py"
    for c in nb.cells:
        if c.cell_type == "code":
            for line in c.source.splitlines():
                assert not line.lstrip().startswith("%load_ext"), "Binder preloads the extension"
    assert "# %load_ext wasix_nb" in "".join(c.source for c in nb.cells)
    skip_if_missing(nb)
    html = "".join(outputs_text(c, "text/html") for c in nb.cells if c.cell_type == "code")
    assert "<table" in html, "the stored notebook has no executed tables: run tools/make_notebooks.py --execute"


def test_notebooks_match_their_sources():
    """The .ipynb files are generated from tools/nbsrc by tools/make_notebooks.py: same cells, same ids."""
    import importlib

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        make = importlib.import_module("make_notebooks")
        built = {m.NAME: make.build(m) for m in make.load_sources()}
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert sorted(built) == [p.stem for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        saved = nbformat.read(path, as_version=4)
        want = built[path.stem]
        assert [(c.id, c.cell_type, c.source, c.metadata.get("tags", [])) for c in saved.cells] == [
            (c.id, c.cell_type, c.source, c.metadata.get("tags", [])) for c in want.cells
        ], f"{path.name} is out of date: run python tools/make_notebooks.py --execute {path.stem[:2]}"
        assert saved.metadata.get("wasix_nb") == want.metadata.get("wasix_nb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    skip_if_missing(nb)
    work = kernel_env / "notebooks"
    shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=180, record_timing=False, resources={"metadata": {"path": str(work)}}
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, kernel_env / path.name)  # left behind for a look when it fails
    html = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        errors = [o for o in c.outputs if o.output_type == "error"]
        if "raises-exception" in c.metadata.get("tags", []):
            assert errors, f"cell {c.id} is tagged raises-exception but did not fail:\n{c.source}"
            assert not any(e.ename in ("NameError", "UsageError", "ModuleNotFoundError") for e in errors), (
                f"cell {c.id} failed for the wrong reason: {errors[0].ename}: {errors[0].evalue}"
            )
        else:
            assert not errors, f"cell {c.id} failed: {errors[0].ename}: {errors[0].evalue}"
        html.append(outputs_text(c, "text/html"))
    assert "<table" in "".join(html), "no descriptor table in the outputs"
