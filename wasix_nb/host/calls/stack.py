"""setjmp/longjmp: `stack_checkpoint` and `stack_restore`, on the module's asyncify exports.

setjmp unwinds the whole stack, keeps it (asyncify bytes + globals) under a 16-byte key written into the
program's 24-byte jmp_buf (u64 at 0, key at 8), and rewinds at once: the program sees 0.  longjmp drops
the stack it is on and rewinds the kept one with its value, so the program continues in the
`stack_checkpoint` call that made it.  The C stack in memory is not restored (longjmp does not do that
either); `__stack_pointer` is.
"""

import hashlib
import os
import struct
from collections import OrderedDict

from ...abi.errno import Errno, WasiError
from ...runtime import asyncify
from ..host import ProcExit
from ..registry import WASIX, syscall

_SNAPSHOT = struct.Struct("<Q16s")  # u64 user value, 16-byte key
_SECRET = os.urandom(16)  # keys cannot be forged by a program that guesses stack bytes
MAX_CHECKPOINTS = 4096  # per thread; a shell sets one per command: keep the newest
MASK64 = (1 << 64) - 1


def stack_of(h):
    """The asyncify stack of the calling thread, or NOTSUP with the reason in the trace."""
    st = asyncify.current()
    if st is None:
        raise WasiError(Errno.NOTSUP, "the program has no asyncify exports (wasm-opt --asyncify)")
    return st


def remember(st, frozen) -> bytes:
    """Keep `frozen` in the thread's checkpoint table; its key is derived from its content, so one
    setjmp site reached the same way again reuses its entry."""
    sp = frozen.globals.get("__stack_pointer", 0)
    key = hashlib.blake2b(frozen.data + struct.pack("<q", sp), key=_SECRET, digest_size=16).digest()
    table = st.checkpoints
    if not isinstance(table, OrderedDict):
        table = st.checkpoints = OrderedDict(table)
    table[key] = frozen
    table.move_to_end(key)
    while len(table) > MAX_CHECKPOINTS:
        table.popitem(last=False)
    return key


@syscall("stack_checkpoint", "snapshot:ptr ret_val:ptr", outs="val", modules=(WASIX,))
def stack_checkpoint(h, snapshot, ret_val):
    st = stack_of(h)
    mem = h.mem
    if st.state() == asyncify.REWINDING:
        val = st.resumed() & MASK64
        mem.set_u64(ret_val, val)
        return 0, (val,), ("longjmp arrived" if val else None)
    mem.check(snapshot, _SNAPSHOT.size)
    mem.set_u64(ret_val, 0)

    def keep(frozen):
        key = remember(st, frozen)
        mem.pack(_SNAPSHOT, snapshot, ret_val, key)
        st.rewind(frozen, 0)

    st.unwind(keep)
    return 0, (), "unwinding"


@syscall("stack_restore", "snapshot:ptr val:u64", result=None, modules=(WASIX,))
def stack_restore(h, snapshot, val):
    st = stack_of(h)
    _, key = h.mem.unpack(_SNAPSHOT, snapshot)
    frozen = st.checkpoints.get(key)
    if frozen is None:  # as the reference: a jmp_buf that no setjmp filled ends the process
        h.killed_by = "longjmp to an unknown jmp_buf"
        raise ProcExit(int(Errno.UNKNOWN))
    st.unwind(lambda _dropped: st.rewind(frozen, val & MASK64), drops=True)
    return 0, (), "unwinding"
