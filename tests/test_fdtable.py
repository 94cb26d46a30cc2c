import pytest

from wasix_nb.abi import WasiError
from wasix_nb.host.fdtable import FdTable, OpenFile


def test_lowest_free_with_heap_and_limit():
    t = FdTable(limit=6)
    assert [t.add(OpenFile()) for _ in range(6)] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(WasiError):
        t.add(OpenFile())
    for fd in (4, 1, 3):
        t.close(fd)
    assert [t.add(OpenFile()) for _ in range(3)] == [1, 3, 4]
    t.renumber(5, 0)
    assert sorted(t.entries) == [0, 1, 2, 3, 4]
    assert t.add(OpenFile()) == 5


def test_renumber_past_the_end_keeps_lower_numbers_free():
    t = FdTable(limit=100)
    a = t.add(OpenFile())
    t.renumber(a, 50)
    assert [t.add(OpenFile()) for _ in range(3)] == [0, 1, 2]
    assert sorted(t.entries) == [0, 1, 2, 50]
    assert [h["state"] for h in t.history_rows()] == ["renumbered to 50"]


def test_many_descriptors_lowest_free_is_exact():
    t = FdTable(limit=200_000)
    for _ in range(20_000):
        t.add(OpenFile())
    for fd in range(19_999, 0, -7):
        t.close(fd)
    freed = sorted(range(19_999, 0, -7))
    assert [t.add(OpenFile()) for _ in range(len(freed))] == freed
    assert t.add(OpenFile()) == 20_000
