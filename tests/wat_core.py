"""Test helpers: a driver module that re-exports host imports so a test can call syscalls one by one."""

import os

import watlib
from wasix_nb import _raw_calls
from wasix_nb.host import registry
from wasix_nb.process import Process


def driver_wat(names, module="wasix_32v1", memory_pages=1):
    """Imports `names` from `module` (not watlib's preview1-first choice) and re-exports each."""
    calls, lines = [], []
    for name in names:
        call = registry.lookup(module, name)
        assert call is not None, f"{module}.{name} is not registered"
        params, results = call.wasm_type
        r = f" (result {' '.join(results)})" if results else ""
        lines.append(f'  (import "{module}" "{name}" (func ${name} (param {" ".join(params)}){r}))')
        calls.append((name, call))
    return watlib.module("\n".join(lines), watlib.forwarders(calls), pages=memory_pages)


class Driver:
    """`d.call("sock_open", 1, 1, 0, 64)` -> errno; `d.mem` the guest memory; `d.host` the host."""

    def __init__(self, *names, module="wasix_32v1", memory_pages=1, **opts):
        self.proc = Process(driver_wat(names, module, memory_pages), **opts)
        self.proc.instantiate()
        self.host = self.proc.host
        self.mem = self.host.mem
        self._exports = self.proc.instance.exports(self.proc.store)

    def call(self, name, *args):
        return _raw_calls.call(self._exports[name], self.proc.store, *args)

    def last(self):
        return self.host.trace.event(len(self.host.trace) - 1)

    def open_fds(self):
        return sorted(self.host.fds.entries)

    def close(self):
        self.proc.close()


def count_os_fds():
    """Open sockets and pipes of this process (what a host could leak; the compile cache's
    memfd images are deliberate and not counted, and the SIGINT watcher's pipe is made first)."""
    import wasix_nb

    wasix_nb.run('(module (func (export "_start")))')
    n = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        n += target.startswith(("socket:", "pipe:"))
    return n
