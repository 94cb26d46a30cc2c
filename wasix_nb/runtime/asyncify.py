"""Unwind and rewind a running wasm stack with binaryen's asyncify exports (fork, vfork, setjmp/longjmp).

A module transformed by `wasm-opt --asyncify` exports `asyncify_start_unwind(data)`,
`asyncify_stop_unwind()`, `asyncify_start_rewind(data)`, `asyncify_stop_rewind()` and
`asyncify_get_state()`.  `data` points at `{u32 start, u32 end}`: a buffer in linear memory where the
unwinding frames save their locals and call sites.  How a host call uses it:

1. inside the import: `Stack.unwind(then)` writes the struct, calls `asyncify_start_unwind` and returns;
   every wasm frame above then saves itself and returns at once, so the entry call returns to the host;
2. the entry loop (`call`) sees the state "unwinding": `asyncify_stop_unwind`, the saved bytes and the
   exported mutable globals become a `Frozen` stack, and `then(frozen)` acts (make a fork child, record
   a checkpoint, ...) and arranges a rewind with `Stack.rewind(frozen, value)`;
3. the loop calls the entry again; the frames restore themselves and re-enter the same import (for a
   longjmp: the import that made the checkpoint), which sees the state "rewinding", calls
   `Stack.resumed()` (`asyncify_stop_rewind`) and returns `value` as its result.

Where the buffer goes (checked on the real WASIX binaries): the free part of the C stack, from the
bottom (`__stack_low`, else `__data_end`) + 8 up to the current `__stack_pointer`; nothing is allocated.
A module without a C stack (a hand-written WAT cell) lends the top of its linear memory for the moment
of the unwind or rewind: its bytes are saved first and put back before the program runs again.
"""

import struct
import threading

import wasmtime

from .facts import facts  # the module's exports, read once per Module

NORMAL, UNWINDING, REWINDING = 0, 1, 2
EXPORTS = (
    "asyncify_start_unwind",
    "asyncify_stop_unwind",
    "asyncify_start_rewind",
    "asyncify_stop_rewind",
    "asyncify_get_state",
)
_DATA = struct.Struct("<II")
_LEND = 64 * 1024  # what a module without a C stack lends: the top 64 KiB of memory

_local = threading.local()


def current():
    """The Stack of the wasm thread running on this OS thread (None outside `call`)."""
    return getattr(_local, "stack", None)


class HandlerUnwound(Exception):
    """A signal handler run at an epoch tick (runtime/epoch.py) longjmp'd: the frames it interrupted
    are dropped and the entry loop goes on with the longjmp."""


class AsyncifyError(Exception):
    """The stack cannot be unwound here (no asyncify exports, no room for the saved frames)."""


class Frozen:
    """A call stack taken off an instance: the asyncify bytes plus the exported mutable globals."""

    __slots__ = ("data", "globals")

    def __init__(self, data: bytes, globals_: dict):
        self.data = data
        self.globals = globals_

    def __repr__(self):
        return f"<Frozen {len(self.data)} B, sp={self.globals.get('__stack_pointer')}>"


def has_asyncify(module: wasmtime.Module) -> bool:
    names = facts(module).names
    return all(n in names for n in EXPORTS)


class Stack:
    """The asyncify machinery of one instance (one wasm thread in one Store)."""

    def __init__(self, store, instance, module, mem):
        ex = instance.exports(store)
        self.store = store
        self.mem = mem  # abi.memory.GuestMemory of the instance's memory
        (self._start_unwind, self._stop_unwind, self._start_rewind, self._stop_rewind, self._get_state) = (
            ex[n] for n in EXPORTS
        )
        self.globals = {}  # exported mutable globals, copied on fork
        for name in facts(module).mutable_globals:
            self.globals[name] = ex[name]
        self.sp = self.globals.get("__stack_pointer")
        low = ex.get("__stack_low") or ex.get("__data_end")
        self.low = low.value(store) if isinstance(low, wasmtime.Global) and self.sp is not None else None
        self.pending = None  # then(frozen): runs in the entry loop once unwound
        self.value = None  # what the re-entered import returns after a rewind
        self._lent = None  # (ptr, original bytes) while a stack-less module lends memory
        self.checkpoints = {}  # setjmp key -> Frozen (copied to a fork child)
        self.moving = False  # from unwind() to resumed(): no handler may run on this stack meanwhile
        self.drops = False  # the pending unwind drops the frames it saves (longjmp)

    @classmethod
    def of(cls, store, instance, module, mem):
        """The Stack of an instance, or None when the module has no asyncify exports."""
        return cls(store, instance, module, mem) if has_asyncify(module) else None

    def _call(self, export, *args):
        """Call one of the asyncify exports from the host.  Its entry is an epoch check: no signal
        handler may run there (`moving`), and the only error it can meet is the process stopping."""
        was, self.moving = self.moving, True
        try:
            return export(self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            from ..host.host import Cancelled  # the host imports this module

            raise Cancelled() from None
        finally:
            self.moving = was

    # -- inside an import ------------------------------------------------------------------------
    def state(self) -> int:
        return self._call(self._get_state)

    def unwind(self, then, drops=False):
        """Start unwinding from inside an import (which then returns any value): `then(frozen)` runs
        in the entry loop when the stack is off (`drops`: it ignores `frozen`, as longjmp does)."""
        ptr, start, end = self._area()
        self.mem.pack(_DATA, ptr, start, end)
        self.pending = then
        self.drops = drops
        self._call(self._start_unwind, ptr)
        self.moving = True

    def resumed(self):
        """In an import re-entered by a rewind: finish it and return the value it hands back."""
        self._call(self._stop_rewind)
        self.moving = False
        if self._lent is not None:
            ptr, saved = self._lent
            self.mem.write(ptr, saved)
            self._lent = None
        value, self.value = self.value, None
        return value

    # -- in the entry loop ---------------------------------------------------------------------
    def finish_unwind(self) -> Frozen:
        self._call(self._stop_unwind)
        ptr, start, _ = self._area(lent=True)
        top = self.mem.unpack(_DATA, ptr)[0]
        if top < start:
            raise AsyncifyError("asyncify data pointer moved backwards")
        data = self.mem.read(start, top - start)
        if self._lent is not None:
            lp, saved = self._lent
            self.mem.write(lp, saved)
            self._lent = None
        return Frozen(data, {n: g.value(self.store) for n, g in self.globals.items()})

    def rewind(self, frozen: Frozen, value, restore=("__stack_pointer",)):
        """Make the next entry call rewind to `frozen`; the re-entered import gets `value`.
        `restore` names the globals to set back (all of them for a fork child)."""
        for name in frozen.globals if restore is None else restore:
            g = self.globals.get(name)
            if g is not None and name in frozen.globals:
                g.set_value(self.store, frozen.globals[name])
        ptr, start, end = self._area(need=len(frozen.data))
        if start + len(frozen.data) > end:
            raise AsyncifyError(f"no room to rewind {len(frozen.data)} bytes of saved frames")
        self.mem.write(start, frozen.data)
        self.mem.pack(_DATA, ptr, start + len(frozen.data), end)  # rewinding pops from the top down
        self.value = value
        self._call(self._start_rewind, ptr)
        self.moving = True

    def _area(self, lent=False, need=0):
        """(struct pointer, buffer start, buffer end) for the next unwind or rewind."""
        if self.low is not None:
            start = self.low + _DATA.size
            return self.low, start, max(start, self.sp.value(self.store))
        if lent and self._lent is not None:
            ptr = self._lent[0]
            return ptr, ptr + _DATA.size, ptr + len(self._lent[1])
        size = self.mem.size
        n = min(size, max(_LEND, need + _DATA.size))
        if n < _DATA.size + 16:
            raise AsyncifyError("the program has no linear memory to save its stack in")
        ptr = size - n
        self._lent = (ptr, self.mem.read(ptr, n))
        return ptr, ptr + _DATA.size, size


def call(func, store, args=(), stack=None):
    """Call the entry `func(store, *args)` until it really returns: each time it comes back because an
    import unwound the stack, run what the import asked for (which arranges a rewind) and call again.
    A `then` that arranges no rewind ends the loop (the stack stays off: exec, exit)."""
    prev = getattr(_local, "stack", None)
    _local.stack = stack
    try:
        while True:
            try:
                result = func(store, *args)
            except HandlerUnwound:  # a handler's longjmp out of the frames it interrupted: drop them
                result = None
            if stack is None or stack.pending is None:
                return result
            then, stack.pending = stack.pending, None
            if stack.state() != UNWINDING:
                raise AsyncifyError("an import asked to unwind but the stack is not unwinding")
            frozen = stack.finish_unwind()
            then(frozen)
            if stack.state() != REWINDING:
                stack.moving = False
                return None
    finally:
        _local.stack = prev
