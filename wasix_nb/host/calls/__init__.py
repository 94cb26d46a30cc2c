"""One module per syscall family; importing this package registers them all."""
from . import clock, env, fd, pipe, poll, proc, resolve, sock, sockio, sockopt  # noqa: F401
