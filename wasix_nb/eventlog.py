"""The trace's event storage: fixed-size binary records, read back as event tuples.

Keeping one tuple per host call (plus its argument and result tuples) made the garbage collector walk
every recorded call again and again: about half of what tracing cost per call.  The common call (int
arguments, an errno, a few int results, no note) is instead packed with one `struct.pack_into` into
preallocated chunks: no Python object survives the call, nothing for the collector to see, and about 100
bytes per call instead of 300.  Anything else (a note, string results, captured inputs, a call cut
short) gets the same header and the rest marshalled into one `bytes` in `side`.  Reading (`log[i]`, slices, iteration) builds the tuples

    (start_ns, duration_ns, syscall, args, errno, outs, mark, pid, tid, cap)

so views see a list of events.  Writers from several threads each claim a slot with one atomic
`next()`; a reader that meets a slot claimed but not yet written (a few bytecodes later) waits for it.

Chunk 0 starts small (FIRST records) and doubles in place as the run makes calls: a run of five calls
must not zero megabytes (a full chunk is 2 MB: most of a short run's fixed cost).  A writer packing past
a chunk's end fails (struct.error) and keeps that event whole via `put`, which grows the chunk.  Growth is
in place (the same bytearray object), so a writer holding the chunk loses nothing; readers never hold
an export of a chunk across Python code (that would make the resize fail), they copy what they scan.
"""

import collections
import itertools
import marshal
import operator
import struct
import sys
import threading
import time

MAX_ARGS = 10  # calls with more parameters (or more than MAX_OUTS int results) go to `side`
MAX_OUTS = 3
SHIFT = 14
CHUNK = 1 << SHIFT  # records per chunk
# start, duration, declaration id, errno, pid, tid, number of outs (-1: None), number of args
HEAD = struct.Struct("<qqiiiibb")
SIZE = HEAD.size + 8 * (MAX_OUTS + MAX_ARGS) + 4
_SCAN = struct.Struct(HEAD.format + f"{SIZE - HEAD.size}x")  # the header of each record, in one pass
_FULL = [struct.Struct(HEAD.format + "q" * (MAX_OUTS + n) + "i") for n in range(MAX_ARGS + 1)]
_CID = struct.Struct("<i")
_IN_SIDE = -2  # "number of outs" of a record whose args, errno, outs, note and capture are in `side`
CAPTURED = 16  # added to the number of outs (-1: None) of a packed record whose capture is in `side`
OUTS_IN_SIDE = 32  # "number of outs" of a packed record whose outs tuple (strings in it) is in `side`
_MASK = (1 << 14) - 1
FIRST = 64  # records chunk 0 starts with (8 KB); later chunks are made full size
_dumps, _loads = marshal.dumps, marshal.loads
_REDUCE = sys.version_info < (3, 12)


def packer(nargs):
    """pack_into(buf, offset, start, dur, decl id, errno, pid, tid, nouts, nargs, o0, o1, o2, *args,
    decl id): the id is repeated last, so a record a failed pack left half-written reads as not written."""
    return _FULL[nargs].pack_into


class EventLog:
    """An append-only sequence of events (see the module doc); `limit` is the Trace's, read per call."""

    def __init__(self):
        self.decls = [None]  # declaration id -> Syscall (0: a slot not written yet)
        self._ids = {}
        self.chunks = []
        self.side = {}
        self._counter = itertools.count()
        self.claim = self._counter.__next__  # atomic: each writer gets its own slot
        self._grow = threading.Lock()
        self.cap = 0  # events the trace may keep (the Trace's limit)

    # -- writing ---------------------------------------------------------------------------------
    def decl_id(self, call) -> int:
        """The id records use for `call` (one per declaration object, given out once)."""
        key = id(call)
        i = self._ids.get(key)
        if i is None:
            with self._grow:
                i = self._ids.get(key)
                if i is None:
                    self.decls.append(call)
                    i = self._ids[key] = len(self.decls) - 1
        return i

    def chunk(self, c, need=0):
        """Chunk `c`, made on first use (chunk 0 small), grown in place to hold at least `need` bytes."""
        with self._grow:
            while len(self.chunks) <= c:
                self.chunks.append(bytearray((FIRST if not self.chunks else CHUNK) * SIZE))
            buf = self.chunks[c]
            if len(buf) < need:
                buf.extend(bytes(min(max(need, 2 * len(buf)), CHUNK * SIZE) - len(buf)))
            return buf

    def put(self, i, ev, cid=None):
        """Keep event tuple `ev` as slot `i` (claimed by the caller, below the limit): its header (times,
        declaration id, errno, pid, tid) packed like any record, the rest (args, errno, outs, note,
        capture) marshalled into one `bytes` in `side`.  Bytes are not containers: however many events
        are kept, the garbage collector has nothing more to walk (kept tuples made it walk them all
        again at every full collection: half of what a captured call cost)."""
        if cid is None:
            cid = self.decl_id(ev[2])
        rest = ev[3:7] + ev[9:]
        try:
            self.side[i] = _dumps(rest, 2)  # version 2: no back-references, twice as fast to write
        except ValueError:  # something marshal cannot store (an enum member as an out): kept as it is
            self.side[i] = rest
        c = i >> SHIFT
        off = (i & _MASK) * SIZE
        buf = self.chunks[c] if c < len(self.chunks) else None
        if buf is None or len(buf) < off + SIZE:
            buf = self.chunk(c, off + SIZE)
        err = ev[4]
        _FULL[0].pack_into(
            buf, off, ev[0], ev[1], cid, -1 if err is None else err, ev[7], ev[8], _IN_SIDE, 0, 0, 0, 0, cid
        )

    def append(self, ev) -> bool:
        """Record an event tuple (the general path: notes, strings, captures, calls cut short); False
        when the log is full (the caller only counts it)."""
        i = self.claim()
        if i >= self.cap:
            return False
        self.put(i, ev)
        return True

    def extend(self, evs):
        for ev in evs:
            self.append(ev)

    # -- reading --------------------------------------------------------------------------------
    def claimed(self) -> int:
        """The next slot, exactly (the descriptor table asks at every open and close)."""
        if _REDUCE:  # 85 ns, against 575 for the repr; deprecated from 3.12 (a warning per call)
            return self._counter.__reduce__()[1][0]
        return int(repr(self._counter)[6:-1])  # "count(N)"

    def __len__(self):
        n = self.claimed()
        return n if n < self.cap else self.cap

    def __bool__(self):
        return len(self) > 0

    def _get(self, i):
        c, off = divmod(i, CHUNK)
        off *= SIZE
        for _ in range(2000):
            if c < len(self.chunks) and len(self.chunks[c]) >= off + SIZE:
                buf = self.chunks[c]
                na = buf[off + HEAD.size - 1]
                if na <= MAX_ARGS:
                    v = _FULL[na].unpack_from(buf, off)
                    cid = v[2]
                    if cid > 0 and v[-1] == cid:
                        no = v[6]
                        if no == _IN_SIDE:
                            rest = self.side.get(i)
                            if rest is not None:
                                if rest.__class__ is bytes:
                                    rest = _loads(rest)
                                return (v[0], v[1], self.decls[cid]) + rest[:4] + (v[4], v[5]) + rest[4:]
                        else:
                            cap = None
                            if no == OUTS_IN_SIDE:
                                return (v[0], v[1], self.decls[cid], v[11 : 11 + na], v[3], self.side.get(i)) + (
                                    None,
                                    v[4],
                                    v[5],
                                    None,
                                )
                            if no >= CAPTURED - 1:
                                no -= CAPTURED
                                cap = self.side.get(i)
                                if cap.__class__ is bytes:
                                    cap = _loads(cap)
                            return (
                                v[0],
                                v[1],
                                self.decls[cid],
                                v[11 : 11 + na],
                                v[3],
                                None if no < 0 else v[8 : 8 + no],
                                None,
                                v[4],
                                v[5],
                                cap,
                            )
            time.sleep(0)  # claimed, not written yet: its writer is a few bytecodes away
        raise RuntimeError(f"trace slot {i} was claimed but never written")

    def brief(self, start=0, stop=None):
        """(call, errno, mark, duration, pid, tid) of events [start, stop), read from the records'
        headers in one pass (what the summary and the counts need, without building events)."""
        n = len(self)
        stop = n if stop is None or stop > n else stop
        out = []
        decls = self.decls
        i = start
        while i < stop:
            c, k = divmod(i, CHUNK)
            m = min(CHUNK - k, stop - i)
            if c < len(self.chunks):
                view = self._records(c, k, m)
                m = len(view) // SIZE  # records past a chunk's current end: claimed, being written
            if c >= len(self.chunks) or not m:
                m = min(CHUNK - k, stop - i)
                out.extend(self._brief1(j) for j in range(i, i + m))
            else:
                for j, (_t, d, cid, err, pid, tid, no, _na) in enumerate(_SCAN.iter_unpack(view), i):
                    if cid > 0 and no != _IN_SIDE:
                        out.append((decls[cid], err, None, d, pid, tid))
                    else:
                        out.append(self._brief1(j))
            i += m
        return out

    def counts(self, field, start=0, stop=None, into=None) -> dict:
        """{value: events} of `field` ("pid" or "tid") over events [start, stop), at C speed."""
        k_field = {"pid": 4, "tid": 5}[field]
        n = len(self)
        stop = n if stop is None or stop > n else stop
        out = {} if into is None else into
        get = operator.itemgetter(k_field)
        i = start
        while i < stop:
            c, k = divmod(i, CHUNK)
            m = min(CHUNK - k, stop - i)
            view = self._records(c, k, m) if c < len(self.chunks) else b""
            if len(view) == m * SIZE:
                counted = collections.Counter(map(get, _SCAN.iter_unpack(view)))
                for v, cnt in counted.items():
                    out[v] = out.get(v, 0) + cnt
            else:
                for j in range(i, i + m):
                    v = self._get(j)[k_field + 3]
                    out[v] = out.get(v, 0) + 1
            i += m
        return out

    def _records(self, c, k, m):
        """Records k..k+m of chunk `c` as far as the chunk reaches: a view of a full chunk, a copy of
        one that may still grow (an export held while it grows would make the writer's resize fail)."""
        buf = self.chunks[c]
        if len(buf) == CHUNK * SIZE:
            return memoryview(buf)[k * SIZE : (k + m) * SIZE]
        return buf[k * SIZE : (k + m) * SIZE]

    def _brief1(self, i):
        ev = self._get(i)
        return ev[2], ev[4], ev[6], ev[1], ev[7], ev[8]

    def __getitem__(self, key):
        n = len(self)
        if isinstance(key, slice):
            return [self._get(i) for i in range(*key.indices(n))]
        if key < 0:
            key += n
        if not 0 <= key < n:
            raise IndexError("event index out of range")
        return self._get(key)

    def __iter__(self):
        for i in range(len(self)):
            yield self._get(i)
