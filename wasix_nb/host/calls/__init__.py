"""One module per syscall family; importing this package registers them all."""
from . import clock, env, fd, fs, proc, signals, sock, threads  # noqa: F401
