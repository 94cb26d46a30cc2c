"""The few facts about a module that wasmtime-py does not expose: its own (non-imported) memories and
tables with their limits.  The memory budget (issue 9, B17) needs them to split `memory_limit`.

Reads only the binary's section headers and the table (4) and memory (5) sections.
"""

from collections import namedtuple

Limits = namedtuple("Limits", "min max is64 shared")


def _leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def _limits(data, i):
    flags = data[i]
    i += 1
    lo, i = _leb(data, i)
    hi = None
    if flags & 1:
        hi, i = _leb(data, i)
    if flags & 8:  # custom page size (proposal): its log2 follows
        _, i = _leb(data, i)
    return Limits(lo, hi, bool(flags & 4), bool(flags & 2)), i


def defined_memories_and_tables(wasm: bytes):
    """([Limits] of the module's own memories, [Limits] of its own tables). Empty lists if unreadable."""
    mems, tables = [], []
    try:
        i = 8
        n = len(wasm)
        while i < n:
            sid = wasm[i]
            size, i = _leb(wasm, i + 1)
            end = i + size
            if sid == 5:
                count, j = _leb(wasm, i)
                for _ in range(count):
                    lim, j = _limits(wasm, j)
                    mems.append(lim)
            elif sid == 4:
                count, j = _leb(wasm, i)
                for _ in range(count):
                    if wasm[j] == 0x40:  # table with an init expression: 0x40 0x00 reftype
                        j += 2
                    if wasm[j] in (0x63, 0x64):  # (ref null? ht): heap type follows
                        j += 1
                        _, j = _leb(wasm, j)
                    else:
                        j += 1
                    lim, j = _limits(wasm, j)
                    tables.append(lim)
            i = end
    except IndexError:
        return [], []
    return mems, tables


_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}


def _valtype(data, i):
    b = data[i]
    if b in (0x63, 0x64):  # (ref null? heaptype)
        _, j = _leb(data, i + 1)
        return "ref", j
    return _VALTYPES.get(b, f"type 0x{b:02x}"), i + 1


def _name(data, i):
    n, i = _leb(data, i)
    return data[i : i + n].decode("utf-8", "replace"), i + n


def function_imports(wasm: bytes):
    """{(module, name): (params, results)} of the function imports, value types as text ("i32",
    "v128", "funcref"…), read from the binary: wasmtime-py aborts the interpreter when asked the kind
    of a v128 value type, so the linker never asks it.  None if the binary uses forms not read here."""
    types, out = [], {}
    try:
        i, n = 8, len(wasm)
        while i < n:
            sid = wasm[i]
            size, i = _leb(wasm, i + 1)
            end = i + size
            if sid == 1:
                count, j = _leb(wasm, i)
                for _ in range(count):
                    if wasm[j] != 0x60:
                        return None  # GC proposal type forms: not read here
                    sig = []
                    j += 1
                    for _part in range(2):
                        k, j = _leb(wasm, j)
                        vals = []
                        for _v in range(k):
                            v, j = _valtype(wasm, j)
                            vals.append(v)
                        sig.append(tuple(vals))
                    types.append(tuple(sig))
            elif sid == 2:
                count, j = _leb(wasm, i)
                for _ in range(count):
                    mod, j = _name(wasm, j)
                    name, j = _name(wasm, j)
                    kind = wasm[j]
                    j += 1
                    if kind == 0:
                        idx, j = _leb(wasm, j)
                        out[(mod, name)] = types[idx]
                    elif kind == 1:  # table: reftype, limits
                        _, j = _valtype(wasm, j)
                        _, j = _limits(wasm, j)
                    elif kind == 2:
                        _, j = _limits(wasm, j)
                    elif kind == 3:  # global: valtype, mutability
                        _, j = _valtype(wasm, j)
                        j += 1
                    elif kind == 4:  # tag: attribute, type index
                        j += 1
                        _, j = _leb(wasm, j)
                    else:
                        return None
                return out
            i = end
    except (IndexError, UnicodeError):
        return None
    return out
