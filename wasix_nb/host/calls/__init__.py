"""One module per syscall family; importing this package registers them all."""

from . import clock, env, event, fd, fs, pipe, poll, proc, resolve, signals, sock, sockio, sockopt, stack, threads  # noqa: F401
