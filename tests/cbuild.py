"""Compile the C test programs in tests/c to wasm with clang (Debian: clang lld wasi-libc libclang-rt-dev-wasm32).

Outputs go to a cache directory, named by a hash of the source, the header and the flags, so a
program is compiled once until it changes.  `missing()` says why the toolchain cannot be used (the
tests then skip with that reason); `WASIX_NB_CLANG` and `WASI_SYSROOT` override the defaults.
"""

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

C_DIR = Path(__file__).parent / "c"
CLANG = os.environ.get("WASIX_NB_CLANG", "clang")
SYSROOT = os.environ.get("WASI_SYSROOT", "/usr")

FLAGS = ["--target=wasm32-wasi", f"--sysroot={SYSROOT}", "-O2", "-Wall"]
# Debian's wasi-libc is built without atomics, and wasm-ld only makes a shared memory when every
# object has them: the shared-memory program is freestanding.
SHARED_FLAGS = ["-matomics", "-mbulk-memory", "-nostdlib", "-Wl,--import-memory,--shared-memory,--max-memory=4194304"]


@functools.lru_cache(maxsize=None)
def missing():
    """None when clang can build a wasm32-wasi program with libc, else the reason it cannot."""
    if shutil.which(CLANG) is None:
        return f"{CLANG} not found (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)"
    with tempfile.TemporaryDirectory() as d:
        src = Path(d, "probe.c")
        src.write_text('#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n')
        r = subprocess.run([CLANG, *FLAGS, str(src), "-o", str(Path(d, "probe.wasm"))], capture_output=True, text=True)
        if r.returncode != 0:
            return (
                "clang cannot build for wasm32-wasi (need lld, wasi-libc, libclang-rt-dev-wasm32): "
                + (r.stderr.strip().splitlines() or ["?"])[-1]
            )
    return None


def flags_for(name, shared=False):
    return FLAGS + (SHARED_FLAGS if shared else [])


def build(name, out_dir, shared=False) -> Path:
    """Compile tests/c/NAME.c into out_dir (cached); raises RuntimeError with clang's message."""
    src = C_DIR / f"{name}.c"
    flags = flags_for(name, shared)
    key = hashlib.sha256(
        src.read_bytes() + (C_DIR / "wasix.h").read_bytes() + " ".join([CLANG] + flags).encode()
    ).hexdigest()[:16]
    out = Path(out_dir) / f"{name}-{key}.wasm"
    if out.exists():
        return out
    tmp = out.with_suffix(".tmp")
    r = subprocess.run([CLANG, *flags, "-I", str(C_DIR), str(src), "-o", str(tmp)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"clang failed for {src.name}:\n{r.stderr}")
    tmp.replace(out)
    return out
