"""`fd_event`: an eventfd descriptor (tokio and epoll-style programs wake their poll loops with it)."""

from ...abi.errno import Errno, WasiError
from ..eventfd import SEMAPHORE, EventFd

from ..registry import WASIX, syscall

NONBLOCK = 4  # the fdflags NONBLOCK bit, as wasix-libc passes EFD_NONBLOCK


@syscall("fd_event", "initial:u64 flags:u32 ret_fd:ptr", outs="fd", modules=(WASIX,))
def fd_event(h, initial, flags, ret_fd):
    h.mem.check(ret_fd, 4)
    initial &= (1 << 64) - 1
    if initial == (1 << 64) - 1:
        raise WasiError(Errno.INVAL)  # the counter's largest value is 2**64 - 2
    f = EventFd(initial, bool(flags & SEMAPHORE))  # other flag bits (cloexec) are ignored, as by Wasmer
    f.nonblock = bool(flags & NONBLOCK)
    try:
        fd = h.fds.add(f)
    except BaseException:
        f.release()
        raise
    h.mem.set_u32(ret_fd, fd)
    return 0, (fd,)
