"""wasix_nb: run WASIX programs written in WAT inside Jupyter, on real sockets, and watch every syscall.

%load_ext wasix_nb          # then write WAT in a %%wasix cell (see `%%wasix?`)

import wasix_nb
result = wasix_nb.run(wat_text)     # plain Python API: a Result with stdout, trace, descriptor table
"""

__version__ = "0.1.0"

__all__ = ["run", "Process", "Result", "Options", "load_ipython_extension", "unload_ipython_extension"]


def run(source, *, check=False, **options):
    """Compile and run `source` (WAT text, wasm bytes or a path) to the end; return its `Result`.

    Takes the options of `Process` (see `wasix_nb.options.Options`: args, env, stdin, stdout, stderr,
    timeout, fuel, memory_limit, capture_limit, fd_limit, trace_limit, inject, stub_missing, entry,
    net).  With `check=True` a trap, timeout or non-zero exit raises.
    """
    from .runtime import Process

    result = Process(source, **options).run()
    return result.check() if check else result


def __getattr__(name):
    # the heavy modules (wasmtime, pandas) load on first use, so `import wasix_nb` stays cheap
    if name in ("Process", "Result"):
        from . import runtime

        return getattr(runtime, name)
    if name == "Options":
        from .options import Options

        return Options
    raise AttributeError(name)


def load_ipython_extension(ip):
    from .magics import load

    load(ip)


def unload_ipython_extension(ip):
    from .magics import unload

    unload(ip)
