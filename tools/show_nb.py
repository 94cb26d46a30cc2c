import sys, nbformat
nb = nbformat.read(sys.argv[1], 4)
for c in nb.cells:
    if c.cell_type != 'code': continue
    print('>>>', c.id, c.source.splitlines()[0], c.metadata.get('tags', ''))
    for o in c.outputs:
        if o.output_type == 'stream': print(o.text, end='')
        elif o.output_type == 'error': print('ERR', o.ename, o.evalue)
        else: print(o.data.get('text/plain'), '| html' if 'text/html' in o.data else '')
