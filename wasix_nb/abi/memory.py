"""A bounds-checked view of a program's linear memory.

Every guest pointer the host touches goes through `GuestMemory`; an access outside linear memory raises
`Fault`, which the syscall registry turns into errno FAULT (21) for the program.  The engine is built with
`memory_may_move = False`, so the base address never changes and only the length is re-read, and only
when an access falls past the length seen last (linear memory never shrinks).
"""

import ctypes
import ipaddress
import socket
import struct

from .errno import Errno, WasiError
from .types import AddressFamily

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_ADDR4 = struct.Struct("<BxH4s20x")  # an INET addr_port: tag, pad, port, 4 address bytes, zeros to 28
_INET = int(AddressFamily.INET)
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_IOVEC = struct.Struct("<II")
MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

ADDR_PORT_SIZE = 28  # bytes the host reads/writes of __wasi_addr_port_t
LOCAL_PATH_MAX = 108  # sun_path, NUL included (offsets 2..109)
IOV_MAX = 1024  # iovecs per call (Linux UIO_MAXIOV): more is EINVAL, checked before reading any
RW_MAX = 4 << 20  # bytes one read/write/send/recv moves at most (as Linux's MAX_RW_COUNT, smaller):
# a longer request is a short count, so overlapping iovecs cannot amplify memory


class Fault(Exception):
    """A guest pointer outside linear memory (errno FAULT for the program)."""


class GuestMemory:
    __slots__ = ("_base", "_size_fn", "_size", "_mv")

    def __init__(self, base_address: int, size_fn):
        self._base = base_address
        self._size_fn = size_fn
        self._size = -1
        self._mv = memoryview(b"")
        self._refresh()

    # -- construction helpers ---------------------------------------------------------------
    @classmethod
    def of_memory(cls, store, memory):
        """View of an exported (non-shared) `wasmtime.Memory`."""
        from wasmtime import _ffi as ffi

        ctx = store._context()
        ref = ctypes.byref(memory._memory)
        base = ctypes.addressof(ffi.wasmtime_memory_data(ctx, ref).contents)
        return cls(base, lambda: ffi.wasmtime_memory_data_size(ctx, ref))

    @classmethod
    def of_shared(cls, shared):
        """View of a `wasmtime.SharedMemory` (shared memories never move)."""
        from wasmtime import _ffi as ffi

        ptr = shared.ptr()
        base = ctypes.addressof(ffi.wasmtime_sharedmemory_data(ptr).contents)
        return cls(base, lambda: ffi.wasmtime_sharedmemory_data_size(ptr))

    @classmethod
    def of_bytearray(cls, buf: bytearray):
        """View over a Python buffer (tests, tools)."""
        arr = (ctypes.c_ubyte * len(buf)).from_buffer(buf)
        view = cls.__new__(cls)
        view._base, view._size_fn, view._size = ctypes.addressof(arr), (lambda: len(buf)), len(buf)
        view._mv = memoryview(arr).cast("B")
        return view

    def _refresh(self) -> bool:
        size = self._size_fn()
        if size == self._size:
            return False
        self._size = size
        self._mv = memoryview((ctypes.c_ubyte * size).from_address(self._base)).cast("B") if size else memoryview(b"")
        return True

    @property
    def size(self) -> int:
        self._refresh()
        return self._size

    # -- checks -----------------------------------------------------------------------------
    def check(self, ptr: int, n: int) -> int:
        """Raise Fault unless [ptr, ptr+n) lies in memory; return ptr as unsigned."""
        ptr &= MASK32
        if ptr + n > self._size and (not self._refresh() or ptr + n > self._size):
            raise Fault(ptr)
        return ptr

    # -- scalars ----------------------------------------------------------------------------
    def _get(self, st, ptr):
        ptr &= MASK32
        try:
            return st.unpack_from(self._mv, ptr)[0]
        except struct.error:
            self.check(ptr, st.size)
            return st.unpack_from(self._mv, ptr)[0]

    def _set(self, st, ptr, value):
        ptr &= MASK32
        try:
            st.pack_into(self._mv, ptr, value)
        except struct.error:
            self.check(ptr, st.size)
            st.pack_into(self._mv, ptr, value)

    # one frame each on the fast path (they run in most syscalls); the slow path re-checks the length
    def u8(self, ptr):
        try:
            return _U8.unpack_from(self._mv, ptr & MASK32)[0]
        except struct.error:
            return self._get(_U8, ptr)

    def u16(self, ptr):
        try:
            return _U16.unpack_from(self._mv, ptr & MASK32)[0]
        except struct.error:
            return self._get(_U16, ptr)

    def u32(self, ptr):
        try:
            return _U32.unpack_from(self._mv, ptr & MASK32)[0]
        except struct.error:
            return self._get(_U32, ptr)

    def u64(self, ptr):
        try:
            return _U64.unpack_from(self._mv, ptr & MASK32)[0]
        except struct.error:
            return self._get(_U64, ptr)

    def set_u8(self, ptr, v):
        try:
            _U8.pack_into(self._mv, ptr & MASK32, v & 0xFF)
        except struct.error:
            self._set(_U8, ptr, v & 0xFF)

    def set_u16(self, ptr, v):
        try:
            _U16.pack_into(self._mv, ptr & MASK32, v & 0xFFFF)
        except struct.error:
            self._set(_U16, ptr, v & 0xFFFF)

    def set_u32(self, ptr, v):
        try:
            _U32.pack_into(self._mv, ptr & MASK32, v & MASK32)
        except struct.error:
            self._set(_U32, ptr, v & MASK32)

    def set_u64(self, ptr, v):
        try:
            _U64.pack_into(self._mv, ptr & MASK32, v & MASK64)
        except struct.error:
            self._set(_U64, ptr, v & MASK64)

    def pack(self, st: struct.Struct, ptr: int, *values):
        """Write a whole struct at once (after one bounds check)."""
        ptr = self.check(ptr, st.size)
        st.pack_into(self._mv, ptr, *values)

    def unpack(self, st: struct.Struct, ptr: int):
        ptr = self.check(ptr, st.size)
        return st.unpack_from(self._mv, ptr)

    # -- byte ranges ------------------------------------------------------------------------
    def read(self, ptr: int, n: int) -> bytes:
        ptr = self.check(ptr, n)
        return bytes(self._mv[ptr : ptr + n])

    def view(self, ptr: int, n: int) -> memoryview:
        """A writable window (valid until the memory grows; use at once)."""
        ptr = self.check(ptr, n)
        return self._mv[ptr : ptr + n]

    def write(self, ptr: int, data) -> None:
        n = len(data)
        ptr = self.check(ptr, n)
        self._mv[ptr : ptr + n] = data

    def iovecs(self, ptr: int, count: int, limit: int = RW_MAX):
        """[(buf, len), ...] of an iovec/ciovec array, every buffer bounds-checked (FAULT), more than
        IOV_MAX entries INVAL; the list stops once `limit` bytes are covered (the last entry shortened),
        as Linux truncates a request to MAX_RW_COUNT."""
        count &= MASK32
        if count > IOV_MAX:
            raise WasiError(Errno.INVAL)
        base = self.check(ptr, 8 * count)
        out = []
        size = self._size
        room = limit
        for buf, ln in _IOVEC.iter_unpack(self._mv[base : base + 8 * count]):
            if buf + ln > size:
                self.check(buf, ln)
                size = self._size
            if room > 0 and ln:
                if ln > room:
                    ln = room
                out.append((buf, ln))
                room -= ln
        return out

    def views(self, ptr: int, count: int, limit: int = RW_MAX):
        """Writable memoryviews of the buffers of an iovec array (bounds-checked, at most `limit` bytes
        in all), for zero-copy socket I/O.  Valid until the memory grows past them; use at once."""
        mv = self._mv
        return [mv[b : b + n] for b, n in self.iovecs(ptr, count, limit)] or [mv[0:0]]

    def gather(self, iovs) -> bytes:
        """The bytes of `iovs` (from iovecs(): at most RW_MAX in all), copied once."""
        mv = self._mv
        if len(iovs) == 1:
            buf, ln = iovs[0]
            return bytes(mv[buf : buf + ln])
        return b"".join([mv[b : b + n] for b, n in iovs])

    def scatter(self, iovs, data) -> int:
        """Copy data into the buffers in order; return bytes copied."""
        mv, pos, total = self._mv, 0, len(data)
        for buf, ln in iovs:
            if pos >= total:
                break
            k = min(ln, total - pos)
            mv[buf : buf + k] = data[pos : pos + k]
            pos += k
        return pos

    # -- socket addresses -------------------------------------------------------------------
    def read_addr(self, ptr: int):
        """Decode an addr_port: (af, host, port); LOCAL gives (3, path, 0). Unknown tags give (tag, None, 0)."""
        ptr = self.check(ptr, 4)
        tag = self._mv[ptr]
        if tag == AddressFamily.INET:
            self.check(ptr, 8)
            port = _U16.unpack_from(self._mv, ptr + 2)[0]
            return tag, str(ipaddress.IPv4Address(bytes(self._mv[ptr + 4 : ptr + 8]))), port
        if tag == AddressFamily.INET6:
            self.check(ptr, 20)
            port = _U16.unpack_from(self._mv, ptr + 2)[0]
            return tag, str(ipaddress.IPv6Address(bytes(self._mv[ptr + 4 : ptr + 20]))), port
        if tag == AddressFamily.LOCAL:
            self.check(ptr, 2 + LOCAL_PATH_MAX)
            raw = bytes(self._mv[ptr + 2 : ptr + 2 + LOCAL_PATH_MAX])
            return tag, raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"), 0
        return tag, None, 0

    def write_addr(self, ptr: int, af: int, host, port: int) -> None:
        """Encode an addr_port (28 bytes; LOCAL writes the path through offset 109)."""
        if af == _INET:  # every accept writes its peer: one pack into memory, no bytearray
            ip = _pack_ip(socket.AF_INET, host or "0.0.0.0", ipaddress.IPv4Address)
            _ADDR4.pack_into(self._mv, self.check(ptr, ADDR_PORT_SIZE), af, port & 0xFFFF, ip)
            return
        if af == AddressFamily.LOCAL:
            raw = (host or "").encode("utf-8", "surrogateescape")[: LOCAL_PATH_MAX - 1]
            out = bytearray(2 + LOCAL_PATH_MAX)
            out[0] = af
            out[2 : 2 + len(raw)] = raw
            self.write(ptr, out)
            return
        out = bytearray(ADDR_PORT_SIZE)
        out[0] = af
        _U16.pack_into(out, 2, port & 0xFFFF)
        if af == AddressFamily.INET:
            out[4:8] = _pack_ip(socket.AF_INET, host or "0.0.0.0", ipaddress.IPv4Address)
        elif af == AddressFamily.INET6:
            out[4:20] = _pack_ip(socket.AF_INET6, (host or "::").split("%", 1)[0], ipaddress.IPv6Address)
        self.write(ptr, out)


def _pack_ip(family, host: str, cls) -> bytes:
    # inet_pton: 20x cheaper than ipaddress (every accept writes the peer); ipaddress for its errors
    try:
        return socket.inet_pton(family, host)
    except OSError:
        return cls(host).packed
