"""Compiled modules on disk, so a second run (another CLI call, another kernel) skips compilation.

    WASIX_NB_CACHE_DIR=DIR     where (default: $XDG_CACHE_HOME/wasix_nb, else ~/.cache/wasix_nb)
    WASIX_NB_CACHE=off         no disk cache at all (also: 0, no, false)
    WASIX_NB_CACHE_MAX=MiB     size bound (default 512); least recently used entries go first

One file per module, named by a hash of (program digest, wasmtime version and build, engine settings).
Each file carries a SHA-256 of its payload: `Module.deserialize` trusts its input (it maps machine
code), so a truncated or corrupted entry must be recognised before wasmtime sees it, and is then
deleted and compiled again.  Writers write a temporary file and rename it into place (atomic on POSIX),
so concurrent kernels never read half a file; readers touch the mtime, which the eviction orders by.
Entries are read into memory, never mapped: a mapped file that another process truncates would
crash this one (SIGBUS).
"""

import hashlib
import os
import time

MAGIC = b"WXNBMOD1"
_HEAD = len(MAGIC) + 32
_OFF = {"0", "off", "no", "false", "none"}
DEFAULT_MAX_MIB = 512


def default_dir(environ=os.environ) -> str:
    home = environ.get("HOME") or os.path.expanduser("~")
    base = environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "wasix_nb")


class DiskCache:
    """get(key) -> bytes or None; put(key, bytes); bounded by `max_bytes` (LRU by mtime)."""

    def __init__(self, directory: str, max_bytes: int = DEFAULT_MAX_MIB << 20):
        self.dir = directory
        self.max_bytes = max_bytes
        self.hits = self.misses = self.writes = self.evictions = self.corrupt = 0

    @classmethod
    def from_env(cls, environ=os.environ):
        """The cache the environment asks for, or None when it is switched off."""
        if environ.get("WASIX_NB_CACHE", "").strip().lower() in _OFF:
            return None
        try:
            mib = float(environ.get("WASIX_NB_CACHE_MAX") or DEFAULT_MAX_MIB)
        except ValueError:
            mib = DEFAULT_MAX_MIB
        return cls(environ.get("WASIX_NB_CACHE_DIR") or default_dir(environ), int(mib * (1 << 20)))

    def path(self, key: str) -> str:
        return os.path.join(self.dir, key + ".cwasm")

    def get(self, key: str):
        path = self.path(key)
        try:
            with open(path, "rb") as fp:
                data = fp.read()
        except OSError:
            self.misses += 1
            return None
        payload = data[_HEAD:]
        if data[: len(MAGIC)] != MAGIC or hashlib.sha256(payload).digest() != data[len(MAGIC) : _HEAD]:
            self.drop(key)
            self.misses += 1
            return None
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:
            pass
        self.hits += 1
        return payload

    def drop(self, key: str):
        """Forget an entry that could not be used (corrupt, or refused by wasmtime)."""
        self.corrupt += 1
        try:
            os.unlink(self.path(key))
        except OSError:
            pass

    def put(self, key: str, payload: bytes) -> bool:
        """Store an entry; False (and no exception) when the directory is not writable."""
        if len(payload) + _HEAD > self.max_bytes:
            return False
        import tempfile  # here, not at the top: a CLI run that hits the cache never needs it

        tmp = None
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".part")
            with os.fdopen(fd, "wb") as fp:
                fp.write(MAGIC)
                fp.write(hashlib.sha256(payload).digest())
                fp.write(payload)
            os.replace(tmp, self.path(key))
            tmp = None
        except OSError:
            return False
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        self.writes += 1
        self.evict()
        return True

    def entries(self):
        """[(mtime, size, path)] of the finished entries, oldest first."""
        out = []
        try:
            names = os.listdir(self.dir)
        except OSError:
            return out
        for name in names:
            if not name.endswith(".cwasm"):
                continue
            p = os.path.join(self.dir, name)
            try:
                st = os.stat(p)
            except OSError:
                continue  # another process evicted it meanwhile
            out.append((st.st_mtime_ns, st.st_size, p))
        out.sort()
        return out

    def size(self) -> int:
        return sum(s for _, s, _ in self.entries())

    def evict(self):
        """Delete least recently used entries until the total fits; stale temporary files too."""
        entries = self.entries()
        total = sum(s for _, s, _ in entries)
        for _, size, p in entries:
            if total <= self.max_bytes:
                break
            try:
                os.unlink(p)
                self.evictions += 1
            except OSError:
                pass
            total -= size
        self._sweep_temporaries()

    def _sweep_temporaries(self, age=3600):
        # a writer killed between mkstemp and rename leaves a .part file behind
        now = time.time()
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        for name in names:
            if name.startswith(".tmp-"):
                p = os.path.join(self.dir, name)
                try:
                    if now - os.stat(p).st_mtime > age:
                        os.unlink(p)
                except OSError:
                    pass
