"""What runs wasm: a process (process.py) of one or more threads (thread.py), and its Result (run.py).

Linking (link.py) checks every import once per process; each thread is then one instantiation of the
pre-linked template over the process's memory.  asyncify.py unwinds and rewinds a thread's stack.
"""

__all__ = ["Process", "Result"]


def __getattr__(name):
    # lazy: host modules import runtime.asyncify, and runtime.process imports the host
    if name == "Process":
        from .process import Process

        return Process
    if name == "Result":
        from .run import Result

        return Result
    raise AttributeError(name)
