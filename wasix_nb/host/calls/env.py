"""Arguments and environment: the usual two-call protocol (sizes, then the strings)."""

from ..registry import syscall


def _sizes(h, items, count_ptr, size_ptr):
    h.mem.check(count_ptr, 4)
    h.mem.check(size_ptr, 4)
    h.mem.set_u32(count_ptr, len(items))
    size = sum(len(s) + 1 for s in items)
    h.mem.set_u32(size_ptr, size)
    return 0, (len(items), size)


def _strings(h, items, ptrs, buf):
    mem = h.mem
    mem.check(ptrs, 4 * len(items))
    mem.check(buf, sum(len(s) + 1 for s in items))
    pos = buf & 0xFFFFFFFF
    for i, s in enumerate(items):
        mem.set_u32(ptrs + 4 * i, pos)
        mem.write(pos, s + b"\0")
        pos += len(s) + 1
    return 0


@syscall("args_sizes_get", "argc:ptr argv_buf_size:ptr", outs="argc size")
def args_sizes_get(h, argc, size):
    return _sizes(h, h.args, argc, size)


@syscall("args_get", "argv:ptr argv_buf:ptr")
def args_get(h, argv, buf):
    return _strings(h, h.args, argv, buf)


@syscall("environ_sizes_get", "count:ptr buf_size:ptr", outs="count size")
def environ_sizes_get(h, count, size):
    return _sizes(h, h.env, count, size)


@syscall("environ_get", "environ:ptr environ_buf:ptr")
def environ_get(h, environ, buf):
    return _strings(h, h.env, environ, buf)
