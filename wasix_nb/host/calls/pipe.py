"""`fd_pipe` (wasix): a pipe as two descriptors, read end first."""
import os

from ...abi.errno import Errno, WasiError, from_os
from ..pipes import PipeEnd
from ..registry import WASIX, syscall


@syscall("fd_pipe", "ro_fd1:ptr ro_fd2:ptr", outs="fd1 fd2", modules=(WASIX,))
def fd_pipe(h, ro_fd1, ro_fd2):
    h.mem.check(ro_fd1, 4)
    h.mem.check(ro_fd2, 4)
    if len(h.fds) + 2 > h.fds.limit:
        return int(Errno.MFILE)
    try:
        r, w = os.pipe()
    except OSError as e:
        raise WasiError(from_os(e)) from None
    a, b = PipeEnd(r, True), PipeEnd(w, False)
    fd1 = None
    try:
        fd1 = h.fds.add(a)
        fd2 = h.fds.add(b)
    except BaseException:
        if fd1 is not None:
            h.fds.close(fd1)
        else:
            a.release()
        b.release()
        raise
    a.peer, b.peer = f"fd {fd2}", f"fd {fd1}"
    h.mem.set_u32(ro_fd1, fd1)
    h.mem.set_u32(ro_fd2, fd2)
    return 0, (fd1, fd2)
