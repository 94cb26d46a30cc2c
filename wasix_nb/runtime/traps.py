"""Trap messages: the reason, the wasm backtrace by function name, and the WAT line when known."""

import re

import wasmtime

_TRAP_WORDS = {
    wasmtime.TrapCode.UNREACHABLE: ("unreachable",),
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: (".div_", ".rem_"),
    wasmtime.TrapCode.INTEGER_OVERFLOW: (".div_s", ".trunc"),
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: ("call_indirect",),
    wasmtime.TrapCode.BAD_SIGNATURE: ("call_indirect",),
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: (".load", ".store"),
}


def describe_trap(trap: wasmtime.Trap, source) -> str:
    """Reason, the wasm backtrace by function name, and the WAT line when the text is known."""
    reason = trap.message.split("\n")[0]
    reason = re.sub(r"^(error while executing at wasm backtrace:.*)$", "", reason).strip() or trap.message
    code = trap.trap_code
    lines = [f"wasm trap: {code.name.lower().replace('_', ' ') if code else reason}"]
    frames = trap.frames
    for i, f in enumerate(frames):
        name = f.func_name or f"func[{f.func_index}]"
        lines.append(f"  #{i} {name} (module offset {f.module_offset:#x})")
    if source.wat is not None and frames:
        where = _wat_line(source.wat, frames[0], code)
        if where:
            lineno, text = where
            lines.append(f"  at {source.name} line {lineno}: {text.strip()}")
    return "\n".join(lines)


def _wat_line(wat: str, frame, code):
    """Best-effort line of the trapping function (and instruction, when it is the only candidate)."""
    src_lines = wat.splitlines()
    starts = [i for i, l in enumerate(src_lines) if re.search(r"\(func\b", l) and "(import" not in l]
    name = frame.func_name
    start = None
    if name:
        for i in starts:
            if re.search(r"\(func\s+\$" + re.escape(name) + r"(?![\w.$])", src_lines[i]):
                start = i
                break
    if start is None:
        n_imports = len(re.findall(r"\(import\s+\"[^\"]*\"\s+\"[^\"]*\"\s+\(func\b", wat))
        idx = frame.func_index - n_imports
        if 0 <= idx < len(starts):
            start = starts[idx]
    if start is None:
        return None
    nxt = [i for i in starts if i > start]
    end = nxt[0] if nxt else len(src_lines)
    words = _TRAP_WORDS.get(code, ())
    hits = [i for i in range(start, end) if any(w in src_lines[i] for w in words)]
    i = hits[0] if len(hits) == 1 else start
    return i + 1, src_lines[i]
