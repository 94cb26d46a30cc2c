"""Automatic `wasm-opt --asyncify` for programs that fork or setjmp but lack the asyncify exports.

fork, vfork and setjmp/longjmp need to take the running wasm stack off and put it back (see
runtime/asyncify.py); binaryen's asyncify transform makes a module able to do that.  Real WASIX binaries
ship transformed; a WAT cell or a clang build does not, so before compiling, a module that imports
`proc_fork`, `stack_checkpoint` or `stack_restore` and exports no `asyncify_*` functions is run through
binaryen's `wasm-opt` (Debian's `binaryen` package, or `$WASIX_NB_WASM_OPT`).  Only those imports may
unwind (`asyncify-imports`), which keeps the added code small; names are kept (`-g`) so traps still
name the WAT function.  The result is compiled and cached with the module, so this runs once per
source.  The program's own mutable globals are exported too (`__wasix_global_N`), so a fork child
starts with their values, not their initial ones.

Why the wasm-opt tool and not a Python package: binaryen's maintainers ship the tool (Debian, Homebrew,
GitHub releases); the PyPI wrappers (`binaryen-py`) are third-party and a year behind.
"""

import os
import shutil
import subprocess
import tempfile

from .errors import CompileError

UNWINDING_IMPORTS = ("proc_fork", "stack_checkpoint", "stack_restore")
ASYNCIFY_EXPORTS = (
    "asyncify_start_unwind",
    "asyncify_stop_unwind",
    "asyncify_start_rewind",
    "asyncify_stop_rewind",
    "asyncify_get_state",
)
_IMPORT_MODULES = ("wasix_32v1", "wasix_64v1")
_GLOBAL_PREFIX = "__wasix_global_"


def wasm_opt():
    """Path of the wasm-opt tool, or None."""
    return shutil.which(os.environ.get("WASIX_NB_WASM_OPT") or "wasm-opt")


def needs_asyncify(wasm: bytes) -> list:
    """The unwinding imports of a module that has no asyncify exports ([] when nothing is needed)."""
    imports, exports = _names(wasm)
    if all(n in exports for n in ASYNCIFY_EXPORTS):
        return []
    return [f"{m}.{n}" for m, n in imports if m in _IMPORT_MODULES and n in UNWINDING_IMPORTS]


def prepare(wasm: bytes, name: str = "<cell>") -> bytes:
    """`wasm`, transformed with asyncify when it needs it (else returned unchanged)."""
    try:
        wanted = needs_asyncify(wasm)
    except (IndexError, ValueError):
        return wasm  # not parseable here: let wasmtime report what is wrong
    if not wanted:
        return wasm
    tool = wasm_opt()
    why = (
        f"{name} imports {', '.join(wanted)} but has no asyncify exports, so wasix_nb applies "
        f"binaryen's `wasm-opt --asyncify` to it"
    )
    if tool is None:
        raise CompileError(
            f"{why}; wasm-opt was not found (apt-get install binaryen, or set $WASIX_NB_WASM_OPT to its path)"
        )
    imports = ",".join(f"{m}.{n}" for m in _IMPORT_MODULES for n in UNWINDING_IMPORTS)
    with tempfile.TemporaryDirectory(prefix="wxopt") as d:
        src, out = os.path.join(d, "in.wasm"), os.path.join(d, "out.wasm")
        with open(src, "wb") as fp:
            fp.write(wasm)
        cmd = [tool, src, "-o", out, "-g", "--all-features", "--asyncify", f"--pass-arg=asyncify-imports@{imports}"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise CompileError(f"{why}; running {tool} failed: {e}") from None
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise CompileError(f"{why}; wasm-opt failed: {' / '.join(msg[-3:]) or r.returncode}")
        with open(out, "rb") as fp:
            result = fp.read()
    return export_mutable_globals(result)


# -- a minimal reader of the module's sections ---------------------------------------------------------
def _leb(b, i):
    """Unsigned LEB128 at i -> (value, next index)."""
    v = shift = 0
    while True:
        byte = b[i]
        i += 1
        v |= (byte & 0x7F) << shift
        if byte < 0x80:
            return v, i
        shift += 7


def _name(b, i):
    n, i = _leb(b, i)
    return bytes(b[i : i + n]).decode("utf-8", "replace"), i + n


def _sections(b):
    if bytes(b[:4]) != b"\0asm":
        raise ValueError("not a wasm module")
    i = 8
    while i < len(b):
        sid = b[i]
        size, j = _leb(b, i + 1)
        yield sid, i, j, j + size  # id, section start, payload start, end
        i = j + size


def _limits(b, i):
    flags = b[i]
    _, i = _leb(b, i + 1)
    if flags & 1:
        _, i = _leb(b, i)
    return i


def _names(b):
    imports, exports = [], set()
    for sid, _, p, end in _sections(b):
        if sid == 2:
            count, i = _leb(b, p)
            for _ in range(count):
                mod, i = _name(b, i)
                nm, i = _name(b, i)
                kind = b[i]
                i += 1
                if kind in (0, 4):  # function (type index), tag (attribute, type index)
                    i = _leb(b, i + (kind == 4))[1]
                elif kind == 1:  # table: reference type, limits
                    i = _limits(b, i + 1)
                elif kind == 2:  # memory: limits
                    i = _limits(b, i)
                else:  # global: value type, mutability
                    i += 2
                imports.append((mod, nm))
        elif sid == 7:
            count, i = _leb(b, p)
            for _ in range(count):
                nm, i = _name(b, i)
                i = _leb(b, i + 1)[1]
                exports.add(nm)
    return imports, exports


_CONST_IMMEDIATE = {0x41: "leb", 0x42: "leb", 0x23: "leb", 0xD2: "leb", 0x43: 4, 0x44: 8, 0xD0: 1}


def _skip_init(b, i):
    """Skip a constant expression (ends with 0x0b)."""
    while True:
        op = b[i]
        i += 1
        if op == 0x0B:
            return i
        imm = _CONST_IMMEDIATE.get(op)
        if imm == "leb":
            while b[i] & 0x80:
                i += 1
            i += 1
        elif imm is not None:
            i += imm
        elif op == 0xFD:  # v128.const: sub-opcode then 16 bytes
            i = _leb(b, i)[1] + 16
        # i32.add / i32.sub / i32.mul ... (extended constants) have no immediates


def _enc(v):
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def export_mutable_globals(wasm: bytes) -> bytes:
    """Export every defined mutable global that is not exported yet (so a fork can copy its value)."""
    b = memoryview(wasm)
    imported_globals = 0
    mutable, exported, export_sec = [], set(), None
    for sid, start, p, end in _sections(b):
        if sid == 2:
            count, i = _leb(b, p)
            for _ in range(count):
                _, i = _name(b, i)
                _, i = _name(b, i)
                kind = b[i]
                i += 1
                if kind in (0, 4):
                    i = _leb(b, i + (kind == 4))[1]
                elif kind == 1:
                    i = _limits(b, i + 1)
                elif kind == 2:
                    i = _limits(b, i)
                else:
                    imported_globals += 1
                    i += 2
        elif sid == 6:
            count, i = _leb(b, p)
            for k in range(count):
                mut = b[i + 1]
                i = _skip_init(b, i + 2)
                if mut:
                    mutable.append(imported_globals + k)
        elif sid == 7:
            export_sec = (start, p, end)
            count, i = _leb(b, p)
            for _ in range(count):
                _, i = _name(b, i)
                kind = b[i]
                idx, i = _leb(b, i + 1)
                if kind == 3:
                    exported.add(idx)
    extra = [g for g in mutable if g not in exported]
    if not extra or export_sec is None:
        return wasm
    start, p, end = export_sec
    count, i = _leb(b, p)
    body = bytearray(_enc(count + len(extra)))
    body += b[i:end]
    for g in extra:
        nm = f"{_GLOBAL_PREFIX}{g}".encode()
        body += _enc(len(nm)) + nm + b"\x03" + _enc(g)
    return bytes(b[:start]) + b"\x07" + _enc(len(body)) + bytes(body) + bytes(b[end:])
