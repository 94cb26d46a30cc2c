"""One module per syscall family; importing this package registers them all."""
from . import clock, env, fd, proc, sock  # noqa: F401
