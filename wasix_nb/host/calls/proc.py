"""Ending the process."""
from ..host import ProcExit
from ..registry import syscall


@syscall("proc_exit", "code:u32", result=None)
def proc_exit(h, code):
    raise ProcExit(code & 0xFFFFFFFF)
