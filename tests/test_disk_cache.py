"""The disk cache of compiled modules: reuse across processes, corruption, size bound, switches."""

import os
import subprocess
import sys
import threading

import pytest

from wasix_nb import compile as wcompile
from wasix_nb.diskcache import MAGIC, DiskCache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def realwasix():
    d = os.environ.get("WASIX_NB_REALWASIX") or os.path.join(ROOT, "..", "shared", "realwasix")
    if not os.path.isdir(d):
        pytest.skip("no real WASIX binaries (set WASIX_NB_REALWASIX)")
    return d


def wat(i):
    return wcompile.Source.load(f'(module (func (export "f{i}")) (memory 1) (data (i32.const 0) "{i}"))')


def pool_in(tmp_path, **kw):
    return wcompile.EnginePool(DiskCache(str(tmp_path), **kw))


COUNT = """
import sys
from wasix_nb import compile as c
from wasix_nb.process import Process
Process(sys.argv[1], stub_missing=True).close()
print(c.POOL.compiles, c.POOL.disk_loads)
"""


def test_second_process_deserializes_a_large_real_binary(tmp_path):
    path = os.path.join(realwasix(), "example-tokio.wasm")
    env = dict(os.environ, WASIX_NB_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)
    env.pop("WASIX_NB_CACHE", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", COUNT, path], env=env, capture_output=True, text=True, check=True, timeout=120
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs == [["1", "0"], ["0", "1"]], "first process compiles, second deserializes from disk"
    assert len(DiskCache(str(tmp_path)).entries()) == 1


def test_cli_run_uses_the_cache(tmp_path):
    path = os.path.join(realwasix(), "exit-0-from-main.wasm")
    env = dict(os.environ, WASIX_NB_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)
    env.pop("WASIX_NB_CACHE", None)
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "wasix_nb", "run", path], env=env, check=True, timeout=120)
    (entry,) = DiskCache(str(tmp_path)).entries()
    assert entry[1] > 1000


def test_switched_off_writes_nothing(tmp_path):
    path = os.path.join(realwasix(), "exit-0-from-main.wasm")
    env = dict(os.environ, WASIX_NB_CACHE_DIR=str(tmp_path / "c"), WASIX_NB_CACHE="off", PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", COUNT, path], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["1", "0"] and not (tmp_path / "c").exists()


def test_from_env():
    assert DiskCache.from_env({"WASIX_NB_CACHE": "off"}) is None
    assert DiskCache.from_env({"WASIX_NB_CACHE": "0"}) is None
    c = DiskCache.from_env({"XDG_CACHE_HOME": "/x/y"})
    assert c.dir == "/x/y/wasix_nb" and c.max_bytes == 512 << 20
    c = DiskCache.from_env({"WASIX_NB_CACHE_DIR": "/z", "WASIX_NB_CACHE_MAX": "2"})
    assert c.dir == "/z" and c.max_bytes == 2 << 20
    c = DiskCache.from_env({"HOME": "/home/u"})
    assert c.dir.endswith(os.path.join(".cache", "wasix_nb"))


def test_a_new_pool_loads_from_disk(tmp_path):
    pool = pool_in(tmp_path)
    pool.module(pool.checkout(), wat(1))
    again = pool_in(tmp_path)
    mod = again.module(again.checkout(), wat(1))
    assert (pool.compiles, again.compiles, again.disk_loads) == (1, 0, 1)
    assert [e.name for e in mod.exports] == ["f1"]


def test_fuel_and_plain_engines_have_separate_entries(tmp_path):
    pool = pool_in(tmp_path)
    pool.module(pool.checkout(False), wat(2))
    pool.module(pool.checkout(True), wat(2))
    assert pool.compiles == 2 and len(pool.disk.entries()) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "foreign"])
def test_corrupt_entry_is_compiled_again(tmp_path, damage):
    pool = pool_in(tmp_path)
    pool.module(pool.checkout(), wat(3))
    ((_, _, path),) = pool.disk.entries()
    data = open(path, "rb").read()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
    elif damage == "empty":
        data = b""
    else:  # a correct checksum over bytes wasmtime refuses (another build wrote them, say)
        import hashlib

        junk = b"\x7fELF not really a module"
        data = MAGIC + hashlib.sha256(junk).digest() + junk
    with open(path, "wb") as fp:
        fp.write(data)
    again = pool_in(tmp_path)
    mod = again.module(again.checkout(), wat(3))
    assert (again.compiles, again.disk_loads, again.disk.corrupt) == (1, 0, 1)
    assert [e.name for e in mod.exports] == ["f3"]
    third = pool_in(tmp_path)
    third.module(third.checkout(), wat(3))
    assert (third.compiles, third.disk_loads) == (0, 1), "the rewritten entry is whole"


def test_bound_evicts_least_recently_used(tmp_path):
    c = DiskCache(str(tmp_path), max_bytes=3 * 1100)
    for i in range(3):
        c.put(f"k{i}", bytes(1000))
        os.utime(c.path(f"k{i}"), ns=(10**18 + i * 10**9,) * 2)  # distinct mtimes, oldest first
    assert c.get("k0") == bytes(1000)  # used: now the most recent
    c.put("k3", bytes(1000))
    names = sorted(os.path.basename(p) for _, _, p in c.entries())
    assert names == ["k0.cwasm", "k2.cwasm", "k3.cwasm"] and c.evictions == 1
    assert c.size() <= c.max_bytes
    assert not c.put("huge", bytes(4000)), "an entry larger than the bound is not written"


def test_unwritable_directory_is_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    pool = wcompile.EnginePool(DiskCache(str(blocker / "sub")))
    mod = pool.module(pool.checkout(), wat(4))
    assert pool.compiles == 1 and mod is not None


def test_concurrent_writers_and_readers_see_whole_entries(tmp_path):
    payload = os.urandom(200_000)
    seen, errors = [], []

    def work(i):
        c = DiskCache(str(tmp_path))
        try:
            for _ in range(20):
                c.put("same", payload)
                got = c.get("same")
                seen.append(got is None or got == payload)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(seen) and len(seen) == 120
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")] == []
