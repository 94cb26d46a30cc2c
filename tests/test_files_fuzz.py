"""Hostile paths: thousands of seeded random path calls (.., absolute paths, symlinks the program makes,
host paths, NULs, /dev) and a thread swapping a directory for a symlink under them.  A sentinel file
beside the preopen must never be read, changed or removed, and nothing may appear outside the preopen.

WASIX_NB_FS_FUZZ=N runs N calls instead of the default."""

import os
import random
import threading
import time

import pytest

from fsdriver import ALL, FS

TOKEN = b"SENTINEL-" + os.urandom(12).hex().encode()
N = int(os.environ.get("WASIX_NB_FS_FUZZ", "3000"))


def snapshot(path):
    st = os.stat(path, follow_symlinks=False)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink, path.read_bytes())


def outside_listing(base, root):
    out = []
    for d, dirs, files in os.walk(base):
        if os.path.abspath(d).startswith(str(root)):
            dirs[:] = []
            continue
        out += [os.path.join(d, n) for n in sorted(dirs + files)]
    return sorted(out)


@pytest.fixture
def world(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(TOKEN)
    root = tmp_path / "box" / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "file").write_bytes(b"inner")
    # links the host planted: every one would lead to the sentinel if the OS followed it
    os.symlink(str(secret), root / "abs_secret")
    os.symlink("../../outside/secret", root / "rel_secret")
    os.symlink("../../../outside", root / "sub" / "up")
    os.symlink(str(outside), root / "abs_outside")
    return tmp_path, root, secret


def _path(rng, secret):
    parts = [
        "..",
        ".",
        "",
        "sub",
        "deeper",
        "file",
        "abs_secret",
        "rel_secret",
        "up",
        "abs_outside",
        "secret",
        "outside",
        "new",
        "lnk",
        "lnk2",
        "dev",
        "null",
        "stdin",
        "x\0y",
        "…",
        "a" * 300,
    ]
    good = ["sub", "file", "new", "lnk", "..", "deeper", "."]  # weighted: paths that often exist
    comps = [rng.choice(good if rng.random() < 0.6 else parts) for _ in range(rng.randint(1, 4))]
    p = "/".join(comps)
    r = rng.random()
    if r < 0.2:  # straight attacks, each a way out if the OS followed
        p = rng.choice(
            [
                "abs_outside/secret",
                "sub/up/secret",
                "rel_secret",
                "abs_secret",
                "lnk/secret",
                "/abs_outside/secret",
                "sub/../abs_outside/secret",
                "sub/up",
                "lnk2/x",
            ]
        )
    elif r < 0.3:
        p = "/" + p
    elif r < 0.38:
        p = str(secret) if rng.random() < 0.5 else str(secret.parent) + "/" + p
    elif r < 0.42:
        p = "../" * rng.randint(1, 12) + "outside/secret"
    return p


def test_hostile_paths_never_reach_the_sentinel(world):
    base, root, secret = world
    before, listing = snapshot(secret), outside_listing(base, root)
    rng = random.Random(1234)
    with FS([f"{root}::/", f"{root / 'sub'}::/data"]) as fs:
        opened, ok_opens = [], 0
        for i in range(N):
            op = rng.randrange(13)
            p, q = _path(rng, secret), _path(rng, secret)
            dirfd = rng.choice([3, 3, 4] + opened[-2:])
            follow = rng.randrange(2)
            if op == 0:
                oflags = rng.choice([0, 0, 1, 2, 1 | 8, 1 | 4])
                e, fd = fs.open(p, oflags, rights=rng.choice([ALL, 2, 64]), dirfd=dirfd, follow=follow)
                if e == 0:
                    ok_opens += 1
                    opened.append(fd)
                    e, data = fs.read(fd, 256)
                    assert TOKEN not in (data or b""), (i, p)
                    if fd not in (0, 1, 2) and rng.random() < 0.3:
                        fs.write(fd, b"scribble")
            elif op == 1:
                fs.mkdir(p, dirfd)
            elif op == 2:
                fs.rmdir(p, dirfd)
            elif op == 3:
                fs.unlink(p, dirfd)
            elif op == 4:
                fs.rename(p, q, dirfd, rng.choice([3, 4]))
            elif op == 5:
                fs.symlink(q, p, dirfd)  # the program plants its own links
            elif op == 6:
                fs.link(p, q, follow, dirfd, rng.choice([3, 4]))
            elif op == 7:
                e, text = fs.readlink(p, dirfd)
            elif op == 8:
                fs.stat(p, follow, dirfd)
            elif op == 9:
                fs.call("path_filestat_set_times", dirfd, follow, *fs._p(1024, p), 0, 0, 2 | 8)
            elif op == 10:
                fs.chdir(p)
            elif op == 11 and opened:
                fs.call("fd_close", opened.pop(rng.randrange(len(opened))))
            elif op == 12 and opened:
                fd = rng.choice(opened)
                fs.readdir(fd)
            if len(opened) > 50:
                fs.call("fd_close", opened.pop(0))
        assert not fs.host.host_errors, fs.host.host_errors[0][2]
        assert ok_opens > N // 200  # the walk got somewhere, not only errors
    assert snapshot(secret) == before, "the sentinel changed"
    assert outside_listing(base, root) == listing, "something appeared or vanished outside the preopen"
    assert root.is_dir()


def test_swapping_a_directory_for_a_symlink_under_the_walk(world):
    base, root, secret = world
    before = snapshot(secret)
    stop = threading.Event()
    a, tmp = root / "a", root / "a.tmp"
    a.mkdir()
    (a / "secret").write_bytes(b"inner")

    def swap():
        while not stop.is_set():
            try:  # a real directory, then a link to the outside
                os.rename(a, root / "a.dir")
                os.symlink(str(secret.parent), tmp)
                os.rename(tmp, a)
                time.sleep(0.0002)  # a while as the link, a while as the directory
                os.unlink(a)
                os.rename(root / "a.dir", a)
                time.sleep(0.0002)
            except OSError:  # put the directory back before the next round
                for undo in (
                    lambda: os.unlink(tmp),
                    lambda: os.path.islink(a) and os.unlink(a),
                    lambda: os.rename(root / "a.dir", a),
                ):
                    try:
                        undo()
                    except OSError:
                        pass

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    reads = 0
    try:
        with FS(f"{root}::/") as fs:
            for i in range(20000):  # at least 1500 rounds, and until the good path won once
                if i >= 1500 and reads:
                    break
                e, fd = fs.open("a/secret", follow=1)
                if e == 0:
                    e, data = fs.read(fd)
                    assert TOKEN not in data
                    reads += data == b"inner"
                    fs.call("fd_close", fd)
                fs.stat("a/secret")
                e, fd = fs.open("a/made", 1 | 8, rights=ALL)  # create + truncate through the race
                if e == 0:
                    fs.call("fd_close", fd)
    finally:
        stop.set()
        t.join()
    assert snapshot(secret) == before
    assert reads > 0  # the race was real: the good path also opened
