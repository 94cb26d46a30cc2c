"""Source -> wasmtime Module, cached by content hash, engine settings and wasmtime version.

Engines are pooled: a process checks one out for its lifetime (so an epoch increment that stops it
cannot stop another process) and gives it back, and each engine keeps its compiled modules.  A module
compiled in one engine is moved to another by (fast) deserialization.  Serialized modules also go to
a disk cache (see diskcache.py), so a second CLI run or another kernel deserializes (milliseconds)
instead of compiling (seconds for a large real binary).
"""

import hashlib
import os
import re
import threading
import weakref
from collections import OrderedDict

import wasmtime

from .diskcache import DiskCache
from .errors import CompileError, SourceNotFound, WatSyntaxError


def _wasmtime_id() -> str:
    """The wasmtime version and the identity of its shared library (a rebuilt library invalidates)."""
    pkg = os.path.dirname(wasmtime.__file__)
    version = "unknown"
    try:  # the dist-info folder name; importlib.metadata would cost 16 ms of imports per CLI run
        for name in os.listdir(os.path.dirname(pkg)):
            if name.startswith("wasmtime-") and name.endswith(".dist-info"):
                version = name[len("wasmtime-") : -len(".dist-info")]
                break
    except OSError:
        pass
    try:
        from wasmtime import _ffi

        st = os.stat(_ffi.dll._name)
        lib = f"{st.st_size}:{st.st_mtime_ns}"
    except (OSError, AttributeError, ImportError):
        lib = "?"
    return f"{version}/{lib}"


WASMTIME_VERSION = _wasmtime_id()


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
        # a one-line string without "(" cannot be a WAT module: it is a path
        if isinstance(source, os.PathLike) or (
            isinstance(source, str) and "\n" not in source and "(" not in source and source.strip()
        ):
            path = os.fspath(source)
            try:
                with open(path, "rb") as fp:
                    st = os.fstat(fp.fileno())
                    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    with _FILES_LOCK:
                        src = _FILES.get(key)
                        if src is not None:
                            _FILES.move_to_end(key)
                    if src is not None:
                        return src
                    data = fp.read()
            except FileNotFoundError:
                raise SourceNotFound(path) from None
            src = cls.load(data, name=path)
            src.name = path
            _remember(key, src, len(data))
            return src
        if isinstance(source, str):
            return cls(wat=source, name=name or "<cell>")
        raise TypeError(f"expected WAT text, wasm bytes or a path, not {type(source).__name__}")


# a file run again (`%wasix run big.wasm`, a shell's commands) is not read and hashed again while it is
# unchanged: ~1 ms per MB per run.  Keyed by what any write changes (size, mtime, ctime, inode); bounded.
_FILES = OrderedDict()  # key -> Source, least recent first
_FILES_LOCK = threading.Lock()
_FILES_MAX, _FILES_BYTES = 16, 64 << 20


def _remember(key, src, size):
    with _FILES_LOCK:
        _FILES[key] = src
        src._size = size
        while len(_FILES) > _FILES_MAX or sum(v._size for v in _FILES.values()) > _FILES_BYTES:
            _FILES.popitem(last=False)
            if not _FILES:
                break


# change this tag whenever _settings changes: it is part of the disk cache key
SETTINGS_TAG = "epoch,threads,shared-memory,no-move,v1"


def _settings(fuel: bool):
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    cfg.wasm_threads = True
    cfg.shared_memory = True
    cfg.memory_may_move = False  # the host keeps the base address of linear memory
    cfg.consume_fuel = fuel
    return cfg


class EnginePool:
    MAX_MODULES = 64  # per engine, and serialized: a long notebook session edits many cells

    def __init__(self, disk: DiskCache = None):
        self.disk = disk  # None: memory only
        self._lock = threading.Lock()
        self._idle = {}  # fuel flag -> [engine]
        self._modules = {}  # id(engine) -> OrderedDict{digest: Module}, least recent first
        self._serialized = OrderedDict()  # (digest, fuel, wasmtime version) -> bytes, engine-independent
        self.compiles = 0  # how many real compilations happened (tests look at it)
        self.disk_loads = 0  # modules deserialized from the disk cache

    def checkout(self, fuel: bool = False) -> wasmtime.Engine:
        with self._lock:
            idle = self._idle.setdefault(fuel, [])
            if idle:
                return idle.pop()
        eng = wasmtime.Engine(_settings(fuel))
        eng._wasix_fuel = fuel
        # its modules go with it: a new engine may get the same id() once this one is freed
        weakref.finalize(eng, self._modules.pop, id(eng), None)
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
        mod = None
        if blob is not None:
            mod = wasmtime.Module.deserialize(engine, blob)
        elif self.disk is not None:
            mod, blob = self._from_disk(engine, skey)
        compiled = mod is None
        if compiled:
            mod = _compile(engine, src)
            blob = bytes(mod.serialize())
            if self.disk is not None:
                self.disk.put(disk_key(skey), blob)
        with self._lock:
            self.compiles += compiled
            self._serialized[skey] = blob
            self._serialized.move_to_end(skey)
            per_engine[key] = mod
            for cache in (per_engine, self._serialized):
                while len(cache) > self.MAX_MODULES:
                    cache.popitem(last=False)
        return mod

    def _from_disk(self, engine, skey):
        key = disk_key(skey)
        blob = self.disk.get(key)
        if blob is None:
            return None, None
        try:
            mod = wasmtime.Module.deserialize(engine, blob)
        except wasmtime.WasmtimeError:  # written by an incompatible build: compile again
            self.disk.drop(key)
            return None, None
        with self._lock:
            self.disk_loads += 1
        return mod, blob


def disk_key(skey) -> str:
    digest, fuel, version = skey
    text = f"{digest}|fuel={int(fuel)}|{SETTINGS_TAG}|wasmtime={version}|{os.uname().machine}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _compile(engine, src: Source) -> wasmtime.Module:
    wasm = src.wasm
    if wasm is None:
        try:
            wasm = wasmtime.wat2wasm(src.wat)
        except wasmtime.WasmtimeError as e:
            raise WatSyntaxError(_clean_wat_error(str(e), src.name)) from None
    wasm = _prepare(wasm, src.name)  # wasm-opt --asyncify for a program that forks without it
    try:
        return wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as e:
        raise CompileError(_invalid_module(str(e), src)) from None


def _invalid_module(msg: str, src) -> str:
    """wasmtime's validation error in a few words, and for WAT the line of the function it is in:
    `type mismatch: expected i32 but nothing on stack (in $bad, byte 51)` + `at <cell> line 4: ...`."""
    m = re.search(r"function\[(\d+)\](?:::(\S+))?", msg)
    why = re.search(r"Invalid input WebAssembly code at offset (\d+): (.*)", msg)
    if not (m and why):
        return _clean_wat_error(msg, src.name)
    index, name = int(m.group(1)), m.group(2)
    text = f"invalid WebAssembly: {why.group(2).strip()} (in {'$' + name if name else f'function {index}'}, byte {why.group(1)})"
    where = wat_line(src.wat, index, name) if src.wat else None
    if where is not None:
        text += f"\n  at {src.name} line {where[0]}: {where[1].strip()}"
    return text


def wat_line(wat: str, func_index: int, func_name=None, words=()):
    """(line number, text) of function `func_index` (imports counted, as wasmtime numbers them) or
    `$func_name` in the WAT text, or of its only line holding one of `words`; None when not found."""
    src_lines = wat.splitlines()
    starts = [i for i, l in enumerate(src_lines) if re.search(r"\(func\b", l) and "(import" not in l]
    start = None
    if func_name:
        for i in starts:
            if re.search(r"\(func\s+\$" + re.escape(func_name) + r"(?![\w.$])", src_lines[i]):
                start = i
                break
    if start is None:
        n_imports = len(re.findall(r"\(import\s+\"[^\"]*\"\s+\"[^\"]*\"\s+\(func\b", wat))
        idx = func_index - n_imports
        if 0 <= idx < len(starts):
            start = starts[idx]
    if start is None:
        return None
    nxt = [i for i in starts if i > start]
    end = nxt[0] if nxt else len(src_lines)
    hits = [i for i in range(start, end) if any(w in src_lines[i] for w in words)]
    i = hits[0] if len(hits) == 1 else start
    return i + 1, src_lines[i]


def _prepare(wasm: bytes, name: str) -> bytes:
    from .wasmopt import prepare  # imported here: a run served from the cache never needs it

    return prepare(wasm, name)


def _clean_wat_error(msg: str, name: str) -> str:
    # wasmtime says "<anon>:3:5"; name the cell instead and drop the Rust-side backtrace noise
    msg = msg.replace("<anon>", name).split("\nStack backtrace:")[0]
    return re.sub(r"\n{2,}", "\n", msg).strip()


POOL = EnginePool(DiskCache.from_env())
