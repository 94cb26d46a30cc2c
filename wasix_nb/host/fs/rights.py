"""WASI rights bits (preview1 and snapshot 0 number them alike) and the groups the host acts on.

wasix_nb derives the OS open mode from them, as Wasmer and wasmtime do: a file is opened for reading
when the base rights hold FD_READ (or FD_READDIR), for writing when they hold any of the four rights
wasi-libc drops for O_RDONLY.  Calls the mode forbids answer BADF, as POSIX does for the OS descriptor.
"""

from ...abi.types import Rights

ALL = (1 << 30) - 1
READ_RIGHTS = int(Rights.FD_READ | Rights.FD_READDIR)
WRITE_RIGHTS = int(Rights.FD_WRITE | Rights.FD_DATASYNC | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE)
