"""Every preview1 function wasi-libc may import has a host implementation (so C programs link)."""

from pathlib import Path

import pytest

import cbuild
from wasix_nb.host import calls  # noqa: F401  (registers every syscall)
from wasix_nb.host import registry

PREFIX = "__imported_wasi_snapshot_preview1_"


def test_wasi_libc_imports_are_all_implemented():
    listing = Path(cbuild.SYSROOT, "lib/wasm32-wasi/libc.imports")
    if not listing.exists():
        pytest.skip(f"no wasi-libc import list at {listing} (apt-get install wasi-libc)")
    names = {line.strip()[len(PREFIX) :] for line in listing.read_text().split() if line.startswith(PREFIX)}
    assert len(names) > 30
    missing = {n for n in names if registry.lookup(registry.P1, n) is None}
    assert not missing, sorted(missing)
