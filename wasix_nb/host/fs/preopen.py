"""Preopened directories as the user gives them: `HOST[::GUEST][:ro]` (wasmtime's `--dir` syntax, plus a
`:ro` suffix for read-only), `(host, guest)` or `(host, guest, "ro")`, or a list of these."""

import os
import posixpath

from ...errors import WasixError


class DirSpec:
    __slots__ = ("host", "guest", "ro")

    def __init__(self, host: str, guest: str, ro: bool = False):
        self.host, self.guest, self.ro = host, guest, ro

    def __repr__(self):
        return f"{self.host}::{self.guest}{':ro' if self.ro else ''}"

    def __eq__(self, other):
        return isinstance(other, DirSpec) and (self.host, self.guest, self.ro) == (other.host, other.guest, other.ro)


def parse_one(spec) -> DirSpec:
    if isinstance(spec, DirSpec):
        return spec
    if isinstance(spec, (tuple, list)):
        if not 1 <= len(spec) <= 3 or (len(spec) == 3 and spec[2] not in ("ro", "rw", True, False)):
            raise WasixError(f"dirs: {spec!r} is not (host, guest) or (host, guest, 'ro')")
        host = os.fspath(spec[0])
        guest = spec[1] if len(spec) > 1 else host
        ro = len(spec) == 3 and spec[2] in ("ro", True)
    else:
        text = os.fspath(spec)
        ro = text.endswith(":ro")
        if ro:
            text = text[:-3]
        host, sep, guest = text.partition("::")
        if not sep:
            guest = host
    if not host:
        raise WasixError(f"--dir {spec!r}: no host directory")
    if not os.path.isdir(host):
        raise WasixError(f"--dir {spec!r}: {host} is not a directory")
    guest = guest or "."
    guest = posixpath.normpath(guest) if guest.startswith("/") else guest.rstrip("/") or "."
    if guest.startswith("//"):
        guest = "/" + guest.lstrip("/")
    return DirSpec(os.path.abspath(host), guest, ro)


def parse(dirs) -> list:
    """A list of DirSpec from None, one spec, or a list of specs; WasixError for a bad one."""
    if not dirs:
        return []
    if isinstance(dirs, (str, bytes, os.PathLike, DirSpec)):
        dirs = [dirs]
    return [parse_one(d) for d in dirs]
