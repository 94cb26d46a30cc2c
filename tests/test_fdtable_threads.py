"""FdTable under concurrent wasm threads: every table and every open file's reference count share one
lock (fdtable._REFS), so an open or a close takes one lock.  These check the invariants hold when
several threads open and close at once in two tables holding the same files (as after a fork), with
a tiny switch interval and a sequence-number source that hands the GIL over mid-add and mid-close.
(Under the GIL a lock-free table would still pass most runs: this guards the invariants, the lock's
comment in fdtable says why it is needed.)"""

import sys
import threading
import time

from wasix_nb.host import fdtable
from wasix_nb.host.fdtable import BUDGET, FdTable, OpenFile


class Counted(OpenFile):
    os_fds = 1  # joins the kernel budget like a socket

    def __init__(self):
        super().__init__()
        self.released = 0

    def release(self):
        self.released += 1
        super().release()


def _hammer(tables, shared, rounds, errors):
    try:
        for i in range(rounds):
            t = tables[i % 2]
            fd = t.add(Counted())
            dup = t.add(shared[i % len(shared)])  # a file both tables hold
            t.close(fd)
            t.close(dup)
    except BaseException as e:  # noqa: BLE001 - reported by the test
        errors.append(e)


def test_tables_share_one_lock():
    a, b = FdTable(), FdTable()
    assert a.lock is b.lock is fdtable._REFS


def test_concurrent_open_close_keeps_counts_numbers_and_history():
    def seq():  # the call's sequence number; sleep(0) hands the GIL over mid-add and mid-close
        time.sleep(0)

    a, b = FdTable(limit=10_000, seq=seq), FdTable(limit=10_000, seq=seq)
    shared = [Counted() for _ in range(4)]
    for f in shared:  # held once by each table, as a fork leaves them
        b.place(a.add(f), f)
    used = BUDGET.used
    errors, rounds, n = [], 400, 8
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=_hammer, args=((a, b), shared, rounds, errors)) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    assert sorted(a.entries) == sorted(b.entries) == [0, 1, 2, 3], "only the shared files remain"
    assert all(f.refs == 2 and f.released == 0 for f in shared), "no shared file lost or gained a holder"
    assert BUDGET.used == used, "every new file's budget charge was given back exactly once"
    assert len(a.history) + len(b.history) == 2 * rounds * n
    seqs = a.version + b.version
    assert seqs >= 4 * rounds * n  # every add and close bumped its table's version
    # lowest-free numbering survives the interleaving: the next numbers are 4, 5, ...
    assert [a.add(OpenFile()) for _ in range(3)] == [4, 5, 6]
    for f in shared:  # the last holder anywhere releases, once
        a.close(shared.index(f))
        assert f.released == 0
        b.close(shared.index(f))
        assert f.released == 1
    assert BUDGET.used == used - 4
