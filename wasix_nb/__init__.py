"""wasix_nb: run WASIX programs written in WAT inside Jupyter, on real sockets, and watch every syscall.

    %load_ext wasix_nb          # then write WAT in a %%wasix cell (see `%%wasix?`)

    import wasix_nb
    result = wasix_nb.run(wat_text)     # plain Python API: a Result with stdout, trace, descriptor table
"""
__version__ = "0.1.0"

__all__ = ["run", "Process", "Result", "load_ipython_extension", "unload_ipython_extension"]


def run(source, *, check=False, **options):
    """Compile and run `source` (WAT text, wasm bytes or a path) to the end; return its `Result`.

    Takes the options of `Process` (args, env, stdin, stdout, stderr, timeout, fuel, memory_limit,
    fd_limit, inject, stub_missing, entry, net).  With `check=True` a trap, timeout or non-zero exit raises.
    """
    from .process import Process
    result = Process(source, **options).run()
    return result.check() if check else result


def __getattr__(name):
    # the heavy modules (wasmtime, pandas) load on first use, so `import wasix_nb` stays cheap
    if name in ("Process", "Result"):
        from . import process
        return getattr(process, name)
    raise AttributeError(name)


def load_ipython_extension(ip):
    from .magics import load
    load(ip)


def unload_ipython_extension(ip):
    from .magics import unload
    unload(ip)
