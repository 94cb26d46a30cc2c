"""Trap messages: the reason, the wasm backtrace by function name, and the WAT line when known."""

import re

import wasmtime

from ..compile import wat_line

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
    return wat_line(wat, frame.func_index, frame.func_name, _TRAP_WORDS.get(code, ()))
