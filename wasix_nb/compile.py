"""Source -> wasmtime Module, cached by content hash, engine settings and wasmtime version.

Engines are pooled: a process checks one out for its lifetime (so an epoch increment that stops it
cannot stop another process) and gives it back, and each engine keeps its compiled modules.  A module
compiled in one engine is moved to another by (fast) deserialization.
"""
import hashlib
import os
import re
import threading
from collections import OrderedDict

import wasmtime

from .errors import CompileError, WatSyntaxError

try:
    from importlib.metadata import version as _pkg_version
    WASMTIME_VERSION = _pkg_version("wasmtime")
except Exception:  # noqa: BLE001
    WASMTIME_VERSION = "unknown"


class Source:
    """Program text or bytes plus where it came from (for error messages and line lookups)."""

    def __init__(self, wasm: bytes = None, wat: str = None, name: str = "<cell>"):
        self.wasm = wasm
        self.wat = wat
        self.name = name
        data = wat.encode() if wat is not None else wasm
        self.digest = hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, source, name=None) -> "Source":
        """Accepts WAT text, wasm bytes, or a path (str/PathLike) to a .wat/.wasm file."""
        if isinstance(source, Source):
            return source
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if data[:4] == b"\0asm":
                return cls(wasm=data, name=name or "<bytes>")
            return cls(wat=data.decode("utf-8"), name=name or "<text>")
        if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                                and "(" not in source and os.path.exists(source)):
            path = os.fspath(source)
            with open(path, "rb") as fp:
                data = fp.read()
            src = cls.load(data, name=path)
            src.name = path
            return src
        if isinstance(source, str):
            return cls(wat=source, name=name or "<cell>")
        raise TypeError(f"expected WAT text, wasm bytes or a path, not {type(source).__name__}")


def _settings(fuel: bool):
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    cfg.wasm_threads = True
    cfg.shared_memory = True
    cfg.memory_may_move = False  # the host keeps the base address of linear memory
    cfg.consume_fuel = fuel
    return cfg


class EnginePool:
    MAX_MODULES = 64     # per engine, and serialized: a long notebook session edits many cells

    def __init__(self):
        self._lock = threading.Lock()
        self._idle = {}                  # fuel flag -> [engine]
        self._modules = {}               # id(engine) -> OrderedDict{digest: Module}, least recent first
        self._serialized = OrderedDict()  # (digest, fuel, wasmtime version) -> bytes, engine-independent
        self.compiles = 0                # how many real compilations happened (tests look at it)

    def checkout(self, fuel: bool = False) -> wasmtime.Engine:
        with self._lock:
            idle = self._idle.setdefault(fuel, [])
            if idle:
                return idle.pop()
        eng = wasmtime.Engine(_settings(fuel))
        eng._wasix_fuel = fuel
        return eng

    def give_back(self, engine: wasmtime.Engine):
        with self._lock:
            self._idle.setdefault(engine._wasix_fuel, []).append(engine)

    def module(self, engine: wasmtime.Engine, src: Source) -> wasmtime.Module:
        key = src.digest
        with self._lock:
            per_engine = self._modules.setdefault(id(engine), OrderedDict())
            mod = per_engine.get(key)
            if mod is not None:
                per_engine.move_to_end(key)
                return mod
            skey = (key, engine._wasix_fuel, WASMTIME_VERSION)
            blob = self._serialized.get(skey)
        compiled = blob is None
        if compiled:
            mod = _compile(engine, src)
            blob = bytes(mod.serialize())
        else:
            mod = wasmtime.Module.deserialize(engine, blob)
        with self._lock:
            self.compiles += compiled
            self._serialized[skey] = blob
            self._serialized.move_to_end(skey)
            per_engine[key] = mod
            for cache in (per_engine, self._serialized):
                while len(cache) > self.MAX_MODULES:
                    cache.popitem(last=False)
        return mod


def _compile(engine, src: Source) -> wasmtime.Module:
    wasm = src.wasm
    if wasm is None:
        try:
            wasm = wasmtime.wat2wasm(src.wat)
        except wasmtime.WasmtimeError as e:
            raise WatSyntaxError(_clean_wat_error(str(e), src.name)) from None
    try:
        return wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as e:
        raise CompileError(_clean_wat_error(str(e), src.name)) from None


def _clean_wat_error(msg: str, name: str) -> str:
    # wasmtime says "<anon>:3:5"; name the cell instead and drop the Rust-side backtrace noise
    msg = msg.replace("<anon>", name).split("\nStack backtrace:")[0]
    return re.sub(r"\n{2,}", "\n", msg).strip()


POOL = EnginePool()
