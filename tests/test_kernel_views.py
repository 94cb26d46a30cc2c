"""A notebook executed by a real kernel (nbclient) keeps the final tables in its outputs."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.kernel

SETUP = f"""import sys
sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, "tests")!r}]
from programs import sockets
from wasix_nb.process import Process
from wasix_nb.views.display import show"""

LIVE = """p = Process(sockets(count=3, wait_ms=50))
obj = show(p, live=True)
display(obj)
p.run()
obj.finish()"""

STATIC = """q = Process(sockets(count=3, wait_ms=1))
obj2 = show(q, live=False)
display(obj2)
q.run()
obj2.finish()"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, LIVE, STATIC)]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=60,
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}},
    )
    client.execute()
    return nb


def test_live_cell_outputs_hold_final_tables(executed):
    outs = executed.cells[1].outputs
    assert [o.output_type for o in outs] == ["display_data"], outs
    data = outs[0].data
    assert WIDGET_MIME not in data  # the end replaced the widget view: nothing dies with the kernel
    html = data["text/html"]
    assert "exited 0" in html and html.count('id="T_wasix-') >= 3 and "data:image/svg+xml;base64," in html
    assert "sock_open" in data["text/plain"]


def test_widget_state_is_final(executed):
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    values = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    assert any("exited 0" in v and "wx-fds" in v for v in values)
    assert any("wx-timeline" in v for v in values)


def test_static_cell_outputs_hold_final_tables(executed):
    outs = executed.cells[2].outputs
    assert [o.output_type for o in outs] == ["display_data"]
    assert "exited 0" in outs[0].data["text/html"] and outs[0].data["text/html"].count("<table") >= 3


def test_nbconvert_without_widget_state_shows_the_tables(executed):
    nbconvert = pytest.importorskip("nbconvert")
    nb = nbformat.from_dict(executed)
    nb.metadata.pop("widgets", None)  # as a viewer without widget state sees it
    body, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert 'id="T_wasix-' in body and "exited 0" in body and "wx-timeline" in body


@pytest.fixture(scope="module")
def executed_magic(tmp_path_factory):
    from programs import sockets

    wat = sockets(count=3, wait_ms=50)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(c)
        for c in (
            f"import sys\nsys.path[:0] = [{ROOT!r}]\n%load_ext wasix_nb",
            "%%wasix\n" + wat,  # live panel (the default)
            "%%wasix --bg -n bgp\n" + wat,  # live panel, program in the background
            "import time\nbgp.wait(10)\ntime.sleep(1)",  # the panel's end state arrives meanwhile
        )
    ]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=60,
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}},
    )
    client.execute()
    return nb


@pytest.mark.parametrize("cell", [1, 2])
def test_magic_live_panel_ends_with_final_tables(executed_magic, cell):
    outs = executed_magic.cells[cell].outputs
    assert not [o for o in outs if WIDGET_MIME in o.get("data", {})], outs  # foreground and --bg alike
    panel = [o for o in outs if "wasix-result" in o.get("data", {}).get("text/html", "")]
    assert panel, executed_magic.cells[cell].outputs
    html = panel[0].data["text/html"]
    assert "exited 0" in html and html.count('id="T_wasix-') >= 3
