"""Linking a program against its host: every import checked and defined once per process, before anything
runs, so each thread of the process is then one cheap instantiation of the same pre-linked template.

Everything that is wrong with a module is found here and raised as a WasixError with a short message:
missing imports, imports the host cannot even stub (v128, funcref, externref: B2), an export `memory`
that is not a memory, 64-bit memories (B19), a memory that needs more than `memory_limit` at start (B17).
"""

from collections import OrderedDict

import wasmtime

from .. import _raw_calls
from .._shared_memory import LinkableSharedMemory
from ..errors import MissingImports, NoEntry, WasixError
from ..host import calls as _calls  # noqa: F401  (registers every syscall)
from ..host import registry
from . import wasmbin
from .facts import facts

PAGE = 65536
TABLE_ELEMENT_BYTES = 8  # wasmtime: "currently each table element takes 8 bytes"

_SHAPES = OrderedDict()  # digest -> (memories, tables) of the module itself (bounded cache)


def imports_of(module):
    """The module's imports as (module, name, type), read once per Module."""
    return facts(module).imports


def exports_of(module):
    """The module's exports as (name, type), read once per Module."""
    return facts(module).exports


def _shape(source):
    """(own memories, own tables, function import signatures) of the module, read from its binary."""
    shape = _SHAPES.get(source.digest)
    if shape is None:
        wasm = bytes(source.wasm if source.wasm is not None else wasmtime.wat2wasm(source.wat))
        shape = _SHAPES[source.digest] = wasmbin.defined_memories_and_tables(wasm) + (wasmbin.function_imports(wasm),)
        while len(_SHAPES) > 256:
            _SHAPES.popitem(last=False)
    return shape


class Budget:
    """`memory_limit` split over every memory and table of one instance (wasmtime's store limiter caps
    each memory and each table on its own, so the sum is ours to keep): tables get 1/16 of it when the
    module has any, the memories share the rest equally."""

    def __init__(self, limit, n_memories, n_tables):
        self.limit = limit
        table_bytes = limit // 16 if n_tables else 0
        self.per_table = (table_bytes // max(n_tables, 1)) // TABLE_ELEMENT_BYTES
        self.per_memory = ((limit - table_bytes) // max(n_memories, 1)) // PAGE * PAGE
        self.n_memories, self.n_tables = n_memories, n_tables

    def apply(self, store: wasmtime.Store):
        store.set_limits(memory_size=self.per_memory, table_elements=max(self.per_table, 0))

    def max_pages(self, declared_max):
        cap = self.per_memory // PAGE
        return cap if declared_max is None else min(declared_max, cap)


class UnstubbableImports(MissingImports):
    """--stub-missing, but an import takes or returns a value the host cannot represent."""

    def __init__(self, items):
        self.missing = list(items)
        lines = "\n".join(f"  {m}.{n}: {t}" for m, n, t in self.missing)
        WasixError.__init__(
            self,
            f"the program imports {len(self.missing)} function(s) the host does not "
            f"provide and cannot stub:\n{lines}\n(a stub can only take and return numbers: "
            "i32, i64, f32, f64; not v128, funcref or externref; and never spawns)",
        )


class Linked:
    """What linking produced: the linker (or its InstancePre), the shared memory if the program imports
    one, the memory budget, and the syscalls linked (for --inject checks)."""

    def __init__(self):
        self.linker = None
        self.pre = None  # wasmtime.InstancePre when no import is store-bound
        self.shared = None  # LinkableSharedMemory for an imported shared memory
        self.budget = None
        self.calls = []
        self.keep = []  # raw callbacks: must live as long as any store using them
        self.memory_export = None  # name of the export the host reads memory through
        self.thread_start = None  # "wasi_thread_start" when the module can run threads


def link(engine, module, source, host, opts, rules_for, main_store) -> Linked:
    out = Linked()
    fa = facts(module)
    _check_exports(fa, opts.entry)
    own_mems, own_tables, sigs = _shape(source)
    for lim in own_mems:
        if lim.is64:
            raise WasixError("the module defines a 64-bit memory (memory64), which wasix_nb does not support")
    budget = out.budget = Budget(
        opts.memory_limit, len(own_mems) + fa.imported_mems, len(own_tables) + fa.imported_tables
    )
    for lim in own_mems:
        _check_min(lim.min, budget, opts)
    budget.apply(main_store)
    linker = out.linker = wasmtime.Linker(engine)
    missing, unstubbable, store_bound = [], [], False
    for mod, name, ty in fa.imports:
        if isinstance(ty, wasmtime.FuncType):
            # never str() a FuncType's value types: wasmtime-py aborts on v128 (the binary says them)
            sig = sigs.get((mod, name)) if sigs is not None else None
            if sig is None:
                sig = registry._sig(ty)
            call = registry.lookup(mod, name)
            if call is not None and registry.same_type(sig, call):
                out.calls.append(call)
                fn = registry.wrap(call, host, rules_for(call), name)
                post = getattr(call.fn, "wasm_result", None)
                if post is not None:  # a call whose wasm result is not its errno (wasi thread-spawn)
                    fn = _returning(fn, post)
                _raw_calls.define(linker, mod, name, ty, fn, out.keep, sig)
            elif opts.stub_missing and ("spawn" in name or "thread_local" in name):
                # a NOSYS stub returns 52: read as a thread id it is success, and the program hangs
                unstubbable.append((mod, name, registry.describe_type(sig) + " (a spawn cannot be stubbed)"))
            elif opts.stub_missing and _raw_calls.supported(sig):
                _raw_calls.define(linker, mod, name, ty, registry.nosys_stub(mod, name, sig, host), out.keep, sig)
            elif opts.stub_missing:
                unstubbable.append((mod, name, registry.describe_type(sig)))
            else:
                why = registry.describe_type(sig)
                if call is not None:
                    why += f" (the host's {name} is {registry.describe_type(call.func_type())})"
                missing.append((mod, name, why))
        elif isinstance(ty, wasmtime.MemoryType) and (mod, name) == ("env", "memory"):
            if ty.is_64:
                raise WasixError("the program imports a 64-bit memory (memory64), which wasix_nb does not support")
            lim = ty.limits
            _check_min(lim.min, budget, opts)
            mt = wasmtime.MemoryType(wasmtime.Limits(lim.min, budget.max_pages(lim.max)), shared=ty.is_shared)
            if ty.is_shared:
                out.shared = LinkableSharedMemory(engine, mt)
                linker.define(main_store, mod, name, out.shared)
            else:
                linker.define(main_store, mod, name, wasmtime.Memory(main_store, mt))
                store_bound = True
        else:
            missing.append((mod, name, registry.describe_type(ty)))
    if fa.old_abi is None:
        fa.old_abi = _old_abi(fa, sigs)
    old = fa.old_abi
    if old:
        raise OldAbi(old)
    if unstubbable:
        raise UnstubbableImports(unstubbable)
    if missing:
        raise MissingImports(missing)
    if not store_bound:
        out.pre = linker.instantiate_pre(module)
    out.memory_export = fa.memory_export
    out.thread_start = fa.thread_start
    return out


class OldAbi(WasixError):
    """The program was built for the older WASIX ABI (thread_local_*, 5-argument thread_spawn)."""

    def __init__(self, names):
        self.names = names
        super().__init__(
            "the program was built for the old WASIX ABI, which wasix_nb (like Wasmer) does "
            f"not run: it imports {', '.join(names)}. Rebuild it with a current WASIX toolchain."
        )


def _old_abi(fa, sigs):
    names = []
    for mod, name, ty in fa.imports:
        if mod != registry.WASIX or not isinstance(ty, wasmtime.FuncType):
            continue
        sig = (sigs or {}).get((mod, name))
        if name.startswith("thread_local_") or (name == "thread_spawn" and sig and len(sig[0]) == 5):
            names.append(f"{mod}.{name}")
        elif name == "proc_join" and sig and len(sig[0]) == 2:
            names.append(f"{mod}.{name} (2 arguments)")
    return names


def _returning(fn, post):
    def call(*args):
        return post(fn(*args))

    return call


def _check_min(pages, budget, opts):
    if pages * PAGE > budget.per_memory:
        raise WasixError(
            f"the program needs {pages * PAGE:,} bytes of memory at start; its share of "
            f"memory_limit={opts.memory_limit:,} is {budget.per_memory:,} "
            "(raise memory_limit)"
        )


def _check_exports(fa, entry):
    if entry not in fa.func_names:  # no entry point is an error before anything runs, not a trap
        raise NoEntry(
            f"no entry point: the program exports no function {entry!r} "
            f"(it exports: {', '.join(fa.funcs) or 'no functions'})"
        )
    if fa.bad_export:
        raise WasixError(fa.bad_export)
