"""Print a notebook's code cells and their saved outputs as plain text (to review executed tutorials).

python tools/show_nb.py notebooks/03-tcp-echo-server.ipynb
"""

import sys

import nbformat

nb = nbformat.read(sys.argv[1], as_version=4)
for c in nb.cells:
    if c.cell_type != "code":
        continue
    print(">>>", c.id, c.source.splitlines()[0] if c.source else "", c.metadata.get("tags", ""))
    for o in c.outputs:
        if o.output_type == "stream":
            print(o.text, end="")
        elif o.output_type == "error":
            print("ERROR", o.ename, o.evalue)
        else:
            print(o.data.get("text/plain"), "| html" if "text/html" in o.data else "")
