"""`fd_pipe` (wasix): a pipe as two descriptors, read end first."""

import os

from ...abi.errno import WasiError, from_os
from ..pipes import PipeEnd
from ..registry import WASIX, syscall


@syscall("fd_pipe", "ro_fd1:ptr ro_fd2:ptr", outs="fd1 fd2", modules=(WASIX,))
def fd_pipe(h, ro_fd1, ro_fd2):
    h.mem.check(ro_fd1, 4)
    h.mem.check(ro_fd2, 4)
    h.fds.check_room(2)
    try:
        r, w = os.pipe()
    except OSError as e:
        raise WasiError(from_os(e)) from None
    a, b = PipeEnd(r, True), PipeEnd(w, False)
    fd1, fd2 = h.fds.add_pair(a, b)
    a.peer, b.peer = f"fd {fd2}", f"fd {fd1}"
    h.mem.set_u32(ro_fd1, fd1)
    h.mem.set_u32(ro_fd2, fd2)
    return 0, (fd1, fd2)
