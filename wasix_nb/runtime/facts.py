"""What a compiled Module says about itself (imports, exports, the memory the host reads, whether it
can run threads or unwind with asyncify), read once per Module and kept on it."""

import wasmtime

_KIND = {wasmtime.FuncType: "a function", wasmtime.GlobalType: "a global", wasmtime.TableType: "a table"}


class Facts:
    """What a Module says about itself, read once per Module (compiled modules are cached, so once per
    program): wasmtime-py makes new objects, with an FFI call and a string decode, on every access to an
    import's or export's module, name or type; reading them on every run cost ~1 ms for a real binary."""

    def __init__(self, module):
        self.imports = [(i.module, i.name, i.type) for i in module.imports]  # (module, name, type)
        self.exports = [(e.name, e.type) for e in module.exports]  # (name, type)
        self.funcs = [n for n, t in self.exports if isinstance(t, wasmtime.FuncType)]
        self.func_names = frozenset(self.funcs)
        self.names = frozenset(n for n, _ in self.exports)
        self.bad_export = _bad_export(self.exports)  # a WasixError message, or None
        self.imported_mems = sum(1 for _, _, t in self.imports if isinstance(t, wasmtime.MemoryType))
        self.imported_tables = sum(1 for _, _, t in self.imports if isinstance(t, wasmtime.TableType))
        self.memory_export = _memory_export(self.exports)
        self.thread_start = "wasi_thread_start" if "wasi_thread_start" in self.func_names else None
        self.mutable_globals = [n for n, t in self.exports if isinstance(t, wasmtime.GlobalType) and t.mutable]
        self.old_abi = None  # filled by link() (needs the binary's signatures)


def facts(module) -> Facts:
    v = module.__dict__.get("_wasix_facts")
    if v is None:
        v = module._wasix_facts = Facts(module)
    return v


def _bad_export(exports):
    """Why the exports make the program unrunnable (a WasixError message), or None."""
    for name, ty in exports:
        if name == "memory" and not isinstance(ty, wasmtime.MemoryType):
            kind = _KIND.get(type(ty), type(ty).__name__)
            return f"the export 'memory' is {kind}, not a memory: the host cannot read the program's memory"
        if isinstance(ty, wasmtime.MemoryType) and ty.is_64:
            return f"the export {name!r} is a 64-bit memory (memory64), which wasix_nb does not support"
    return None


def _memory_export(exports):
    names = [n for n, t in exports if isinstance(t, wasmtime.MemoryType)]
    if "memory" in names:
        return "memory"
    return names[0] if names else None
