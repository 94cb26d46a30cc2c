"""Preopened directories and the file calls, one call at a time (tests/fsdriver.py), errno by errno."""

import os
import struct

import pytest

import wasix_nb
from conftest import untimed
from fsdriver import ALL, APPEND, BUF, CREAT, DIRECTORY, EXCL, FD_READ, FD_READDIR, FD_WRITE, FS, OUT, ST, TRUNC
from wasix_nb.abi.errno import Errno
from wasix_nb.errors import WasixError

RO = FD_READ | (1 << 2) | (1 << 5)  # read, seek, tell
WO = FD_WRITE | (1 << 2) | (1 << 5)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "leaf.txt").write_text("leaf\n")
    (root / "hello.txt").write_text("hello world")
    (tmp_path / "secret").write_text("outside")
    return root


@pytest.fixture
def fs(tree):
    with FS(f"{tree}::/") as f:
        yield f


# -- preopens -----------------------------------------------------------------------------------------
def test_preopens_take_3_4_in_order_and_show_in_the_fd_table(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with FS([f"{a}::/", f"{b}::/data:ro"]) as fs:
        assert fs.prestat(3) == (0, "/") and fs.prestat(4) == (0, "/data")
        assert fs.call("fd_prestat_get", 5, ST) == Errno.BADF
        assert fs.call("fd_prestat_get", 1, ST) == Errno.BADF  # open, but not a preopen
        rows = fs.rows()
        assert (rows[3]["kind"], rows[3]["type"], rows[3]["local"], rows[3]["peer"]) == ("dir", "preopen", "/", str(a))
        assert rows[4]["local"] == "/data" and rows[4]["peer"] == str(b)
        assert fs.call("sock_open", 1, 1, 0, OUT) == 0 and fs.u32() == 5  # sockets come after them
        assert fs.fdstat(3) == (0, (3, 0, ALL, ALL))  # DIRECTORY, all rights


def test_without_dirs_nothing_changes():
    r = wasix_nb.run('(module (func (export "_start")))')
    assert [row["fd"] for row in r.fd_rows] == [0, 1, 2]


def test_dir_specs(tmp_path):
    from wasix_nb.host.fs import DirSpec, parse

    d = str(tmp_path)
    assert parse(f"{d}::/x/:ro") == [DirSpec(d, "/x", True)]
    assert parse([d, (d, "/y")]) == [DirSpec(d, d, False), DirSpec(d, "/y", False)]
    assert parse(None) == []
    with pytest.raises(WasixError, match="not a directory"):
        parse(f"{tmp_path}/nope::/")


# -- open, read, write, seek ------------------------------------------------------------------------------
def test_create_write_seek_read_and_the_fd_row(fs, tree):
    e, fd = fs.open("new.txt", CREAT | EXCL, rights=ALL)
    assert (e, fd) == (0, 4)
    assert fs.write(fd, b"hello, file") == (0, 11)
    assert fs.tell(fd) == (0, 11)
    assert fs.seek(fd, 7, 0) == (0, 7)  # SET
    assert fs.read(fd) == (0, b"file")
    assert fs.seek(fd, -4, 2) == (0, 7)  # END
    assert fs.seek(fd, 1, 1) == (0, 8)  # CUR
    assert fs.seek(fd, 0, 3)[0] == Errno.INVAL
    assert fs.seek(fd, -100, 1)[0] == Errno.INVAL
    assert fs.pread(fd, 5, 0) == (0, b"hello") and fs.tell(fd) == (0, 8)
    assert fs.pwrite(fd, b"H", 0) == (0, 1)
    assert (tree / "new.txt").read_bytes() == b"Hello, file"
    row = fs.rows()[fd]
    assert (row["kind"], row["type"], row["local"], row["peer"]) == (
        "file",
        "regular",
        "/new.txt",
        str(tree / "new.txt"),
    )
    assert row["state"] == "offset 8" and row["bytes_out"] == 12 and row["bytes_in"] == 9
    e, st = fs.fstat(fd)
    assert e == 0 and st[2] == 4 and st[4] == 11 and st[3] == 1  # REGULAR_FILE, size, nlink
    assert fs.call("fd_sync", fd) == 0 and fs.call("fd_datasync", fd) == 0
    assert fs.call("fd_advise", fd, 0, 0, 1) == 0 and fs.call("fd_advise", fd, 0, 0, 9) == Errno.INVAL
    assert fs.call("fd_allocate", fd, 0, 100) == 0 and fs.fstat(fd)[1][4] == 100
    assert fs.call("fd_filestat_set_size", fd, 3) == 0 and (tree / "new.txt").read_bytes() == b"Hel"
    assert fs.call("fd_close", fd) == 0
    hist = fs.host.fds.history_rows()[-1]
    assert hist["kind"] == "file" and hist["state"] == "closed"


def test_trunc_append_and_rights(fs, tree):
    e, fd = fs.open("hello.txt", TRUNC, rights=WO)
    assert e == 0 and (tree / "hello.txt").read_bytes() == b""
    assert fs.read(fd)[0] == Errno.BADF  # opened without FD_READ: write-only
    fs.write(fd, b"ab")
    fs.call("fd_close", fd)
    e, fd = fs.open("hello.txt", 0, rights=WO, fdflags=APPEND)
    fs.seek(fd, 0, 0)
    fs.write(fd, b"cd")
    assert (tree / "hello.txt").read_bytes() == b"abcd"
    assert fs.fdstat(fd)[1][1] == APPEND
    e, rfd = fs.open("hello.txt", 0, rights=RO)
    assert fs.write(rfd, b"x")[0] == Errno.BADF  # read-only descriptor
    assert fs.fdstat(rfd)[1][2] == RO
    assert fs.call("fd_fdstat_set_rights", rfd, FD_READ, 0) == 0
    assert fs.call("fd_fdstat_set_rights", rfd, FD_READ | FD_WRITE, 0) == Errno.NOTCAPABLE  # only drop
    assert fs.call("fd_filestat_set_size", rfd, 0) == Errno.INVAL  # not writable


def test_open_errnos(fs, tree):
    assert fs.open("missing.txt")[0] == Errno.NOENT
    assert fs.open("hello.txt", CREAT | EXCL)[0] == Errno.EXIST
    assert fs.open("hello.txt", DIRECTORY)[0] == Errno.NOTDIR
    assert fs.open("hello.txt/x")[0] == Errno.NOTDIR
    assert fs.open("sub", 0, rights=WO)[0] == Errno.ISDIR
    assert fs.open("")[0] == Errno.NOENT
    assert fs.open("a\0b")[0] == Errno.INVAL
    assert fs.open("x" * 5000)[0] == Errno.NAMETOOLONG
    assert fs.open("hello.txt", 0x10)[0] == Errno.INVAL  # unknown oflags
    assert fs.open("hello.txt", dirfd=9)[0] == Errno.BADF
    assert fs.open("hello.txt", dirfd=1)[0] == Errno.NOTCAPABLE  # stdout is no directory
    e, fd = fs.open("hello.txt")
    assert fs.open("x", dirfd=fd)[0] == Errno.NOTDIR  # a file is not a directory
    e, sub = fs.open("sub", DIRECTORY, rights=FD_READ | FD_READDIR, inheriting=FD_READ)
    assert e == 0 and fs.rows()[sub]["local"] == "/sub"
    assert fs.open("leaf.txt", dirfd=sub, rights=FD_READ)[0] == 0
    assert fs.open("leaf.txt", dirfd=sub, rights=FD_WRITE)[0] == Errno.NOTCAPABLE  # beyond inheriting
    assert fs.read(sub)[0] == Errno.ISDIR
    assert fs.seek(sub, 0, 0)[0] == Errno.BADF
    assert fs.seek(1, 0, 0)[0] == Errno.SPIPE  # stdio keeps its answers
    assert fs.call("fd_pread", 1, 128, 0, 0, OUT) == Errno.SPIPE


def test_directory_calls_and_their_errnos(fs, tree):
    assert fs.mkdir("d") == 0 and (tree / "d").is_dir()
    assert fs.mkdir("d") == Errno.EXIST
    assert fs.mkdir("e/") == 0 and (tree / "e").is_dir()
    assert fs.mkdir("nope/d") == Errno.NOENT
    assert fs.mkdir("hello.txt/d") == Errno.NOTDIR
    assert fs.rmdir("sub") == Errno.NOTEMPTY
    assert fs.rmdir("hello.txt") == Errno.NOTDIR
    assert fs.rmdir("missing") == Errno.NOENT
    assert fs.rmdir(".") == Errno.INVAL
    assert fs.rmdir("d") == 0 and not (tree / "d").exists()
    assert fs.unlink("sub") == Errno.ISDIR
    assert fs.unlink("hello.txt/") == Errno.NOTDIR
    assert fs.unlink("missing") == Errno.NOENT
    assert fs.rename("hello.txt", "e/moved.txt") == 0
    assert (tree / "e" / "moved.txt").read_text() == "hello world"
    assert fs.rename("missing", "x") == Errno.NOENT
    assert fs.rename("e", "sub") == Errno.NOTEMPTY
    assert fs.link("e/moved.txt", "hard.txt") == 0
    assert os.stat(tree / "hard.txt").st_ino == os.stat(tree / "e" / "moved.txt").st_ino
    assert fs.stat("hard.txt")[1][3] == 2  # nlink
    assert fs.link("hard.txt", "sub/leaf.txt") == Errno.EXIST
    assert fs.unlink("hard.txt") == 0 and not (tree / "hard.txt").exists()
    assert fs.mkdir("d", dirfd=1) == Errno.NOTCAPABLE and fs.mkdir("d", dirfd=42) == Errno.BADF


def test_stat_and_times(fs, tree):
    e, st = fs.stat("sub")
    assert e == 0 and st[2] == 3 and st[1] == os.stat(tree / "sub").st_ino
    assert fs.stat("missing")[0] == Errno.NOENT
    assert fs.call("path_filestat_set_times", 3, 1, *fs._p(1024, "hello.txt"), 10**9, 2 * 10**9, 1 | 4) == 0
    st = os.stat(tree / "hello.txt")
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**9, 2 * 10**9)
    assert fs.call("path_filestat_set_times", 3, 1, *fs._p(1024, "hello.txt"), 0, 0, 1 | 2) == Errno.INVAL
    e, fd = fs.open("hello.txt")
    assert fs.call("fd_filestat_set_times", fd, 0, 5 * 10**9, 4) == 0
    st = os.stat(tree / "hello.txt")
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**9, 5 * 10**9)  # atime kept, mtime set


def test_readdir_with_cookies(fs, tree):
    for i in range(20):
        (tree / f"f{i:02}").write_text("x")
    e, d = fs.open(".", DIRECTORY)
    e, ents, used = fs.readdir(d)
    names = [n for *_, n in ents]
    assert names[:2] == [".", ".."] and names[2:] == sorted(os.listdir(tree))
    types = {n: t for _, _, t, n in ents}
    assert types["sub"] == 3 and types["hello.txt"] == 4
    assert used < 4096  # the end of the directory
    # a small buffer: fill it, cut the last entry, go on from the last whole entry's d_next
    got, cookie = [], 0
    while True:
        e, ents, used = fs.readdir(d, cookie, n=100)
        got += [n for *_, n in ents]
        if used < 100:
            break
        cookie = ents[-1][0]
    assert got == names
    assert fs.readdir(d, 10**6)[2] == 0  # past the end: nothing
    assert fs.readdir(1)[0] == Errno.NOTDIR


def test_symlinks(fs, tree):
    assert fs.symlink("sub/leaf.txt", "ln") == 0
    assert os.readlink(tree / "ln") == "sub/leaf.txt"
    assert fs.readlink("ln") == (0, b"sub/leaf.txt")
    assert fs.readlink("ln", n=3) == (0, b"sub")  # truncated, as readlink(2)
    assert fs.readlink("hello.txt")[0] == Errno.INVAL
    e, fd = fs.open("ln")
    assert fs.read(fd) == (0, b"leaf\n")
    assert fs.open("ln", follow=0)[0] == Errno.LOOP  # O_NOFOLLOW
    assert fs.stat("ln", follow=0)[1][2] == 7  # SYMBOLIC_LINK
    assert fs.stat("ln")[1][2] == 4
    assert fs.symlink("/sub", "abs") == 0  # absolute: inside the preopen
    e, fd = fs.open("abs/leaf.txt")
    assert fs.read(fd) == (0, b"leaf\n")
    assert fs.symlink("loop", "loop") == 0
    assert fs.open("loop")[0] == Errno.LOOP
    assert fs.symlink("x", "ln") == Errno.EXIST
    assert fs.symlink("", "empty") == Errno.NOENT
    assert fs.open("ln2", CREAT)[0] == 0
    assert fs.symlink("newfile", "dangling") == 0
    e, fd = fs.open("dangling", CREAT)  # creates the target, inside
    assert e == 0 and (tree / "newfile").exists()
    assert fs.link("ln", "ln_hard", follow=1) == 0  # follows to sub/leaf.txt
    assert os.stat(tree / "ln_hard").st_ino == os.stat(tree / "sub" / "leaf.txt").st_ino


def test_dotdot_and_absolute_paths(tmp_path, tree):
    with FS([f"{tree}::/", f"{tree / 'sub'}::/data"]) as fs:
        e, fd = fs.open("/hello.txt")  # absolute: from the preopen's root
        assert fs.read(fd) == (0, b"hello world")
        assert fs.open("../../secret")[0] == Errno.NOENT  # "/.." is "/"
        assert fs.open("/data/leaf.txt", dirfd=4)[0] == 0  # guest prefix stripped
        assert fs.open("leaf.txt/../leaf.txt", dirfd=4)[0] == Errno.NOTDIR
        assert fs.open("../leaf.txt", dirfd=4)[0] == Errno.NOTCAPABLE  # above a non-/ preopen
        assert fs.open("/hello.txt", dirfd=4)[0] == Errno.NOTCAPABLE  # absolute, elsewhere
        e, sub = fs.open("sub", DIRECTORY)
        e, fd = fs.open("../hello.txt", dirfd=sub)  # climbs from a subdirectory
        assert e == 0 and fs.read(fd) == (0, b"hello world")


def test_read_only_preopen_answers_rofs(tree):
    with FS(f"{tree}::/:ro") as fs:
        e, fd = fs.open("hello.txt", rights=RO)
        assert fs.read(fd) == (0, b"hello world")
        assert fs.open("hello.txt", rights=WO)[0] == Errno.ROFS
        assert fs.open("hello.txt", TRUNC, rights=RO)[0] == Errno.ROFS
        assert fs.open("new", CREAT, rights=RO)[0] == Errno.ROFS
        assert fs.open("hello.txt", CREAT, rights=RO)[0] == 0  # exists: nothing to create
        assert fs.open("hello.txt", CREAT | EXCL, rights=RO)[0] == Errno.EXIST
        assert fs.mkdir("d") == Errno.ROFS and fs.rmdir("sub") == Errno.ROFS
        assert fs.unlink("hello.txt") == Errno.ROFS and fs.rename("hello.txt", "x") == Errno.ROFS
        assert fs.symlink("x", "y") == Errno.ROFS and fs.link("hello.txt", "y") == Errno.ROFS
        assert fs.call("fd_filestat_set_times", fd, 0, 0, 8) == Errno.ROFS
        e, sub = fs.open("sub", DIRECTORY)
        assert fs.mkdir("x", dirfd=sub) == Errno.ROFS  # inherited by subdirectories
    assert sorted(os.listdir(tree)) == ["hello.txt", "sub"]


def test_dev_files(fs, tree):
    e, null = fs.open("/dev/null", rights=ALL)
    assert fs.read(null) == (0, b"") and fs.write(null, b"gone") == (0, 4)
    e, zero = fs.open("dev/zero")
    assert fs.read(zero, 8) == (0, bytes(8))
    e, rnd = fs.open("/dev/urandom")
    assert len(fs.read(rnd, 32)[1]) == 32
    e, out = fs.open("/dev/stdout", rights=ALL)
    assert fs.write(out, b"to stdout") == (0, 9)
    assert fs.d.proc.stdout_bytes == bytearray(b"to stdout")
    assert fs.stat("/dev/null")[1][2] == 2  # CHARACTER_DEVICE
    assert fs.unlink("/dev/null") == Errno.ACCES
    assert fs.open("/dev/nothing")[0] == Errno.NOENT
    assert not (tree / "dev").exists()  # nothing made on the host
    rows = fs.rows()
    assert rows[null]["local"] == "/dev/null" and rows[out]["kind"] == "stdout"


def test_dev_needs_a_slash_preopen(tree):
    with FS(f"{tree}::/data") as fs:
        assert fs.open("/dev/null", dirfd=3)[0] == Errno.NOTCAPABLE


def test_chdir_and_getcwd(fs, tree):
    assert fs.getcwd() == (0, "/")
    assert fs.chdir("sub") == 0 and fs.getcwd() == (0, "/sub")
    assert fs.chdir("..") == 0 and fs.getcwd() == (0, "/")
    assert fs.chdir("/hello.txt") == Errno.NOTDIR
    assert fs.chdir("/missing") == Errno.NOENT
    assert fs.getcwd() == (0, "/")


def test_files_close_with_the_process(tree, no_leak):
    fs = FS(f"{tree}::/")
    for _ in range(5):
        assert fs.open("hello.txt")[0] == 0
    fs.open("sub", DIRECTORY)
    fs.close()


def test_fault_on_bad_pointers(fs):
    assert fs.call("path_open", 3, 0, 70000 * 2, 4, 0, ALL, ALL, 0, OUT) == Errno.FAULT
    assert fs.call("path_open", 3, 0, 1024, 1, 0, ALL, ALL, 0, 10**6) == Errno.FAULT
    assert fs.call("fd_readdir", 3, BUF, 10**6, 0, OUT) == Errno.FAULT
    assert fs.call("path_filestat_get", 3, 0, 1024, 1, 10**6) == Errno.FAULT
    assert len(fs.host.fds) == 4  # nothing opened


def test_trace_shows_paths_and_flags(fs):
    fs.open("hello.txt", CREAT | TRUNC, rights=WO)
    line = untimed(fs.host.trace.lines()[-1])
    assert (
        "oflags=CREAT|TRUNC" in line
        and "dirflags=SYMLINK_FOLLOW" in line
        and 'path="hello.txt"' in line
        and line.endswith("= 0 fd=4")
    )
    assert "rights_base=FD_READ" not in line and "FD_WRITE" in line


# -- snapshot 0 ------------------------------------------------------------------------------------------
def test_wasi_unstable_layouts(tree):
    with FS(f"{tree}::/", module="wasi_unstable") as fs:
        e, fd = fs.open("hello.txt")
        assert fs.seek(fd, 6, 2) == (0, 6)  # snapshot 0: SET is 2
        assert fs.read(fd) == (0, b"world")
        assert fs.seek(fd, -5, 1) == (0, 6)  # END is 1
        assert fs.seek(fd, 1, 0) == (0, 7)  # CUR is 0
        assert fs.call("fd_filestat_get", fd, ST) == 0
        dev, ino, ftype, nlink, size = struct.unpack("<QQB3xIQ", fs.mem.read(ST, 32))
        assert (ino, ftype, nlink, size) == (os.stat(tree / "hello.txt").st_ino, 4, 1, 11)
        assert fs.call("path_filestat_get", 3, 1, *fs._p(1024, "sub"), ST) == 0
        assert fs.mem.u8(ST + 16) == 3 and fs.mem.u32(ST + 20) == os.stat(tree / "sub").st_nlink
        assert "whence=SET" in fs.host.trace.lines()[1]


def test_wasi_unstable_program_links_and_runs(tree):
    wat = """(module
  (import "wasi_unstable" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_unstable" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello.txt")
  (func (export "_start")
    (if (call $prestat (i32.const 3) (i32.const 0)) (then (call $exit (i32.const 2))))
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 9) (i32.const 0)
                    (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)) (then (call $exit (i32.const 3))))
    (i32.store (i32.const 16) (i32.const 200)) (i32.store (i32.const 20) (i32.const 64))
    (drop (call $read (i32.load (i32.const 8)) (i32.const 16) (i32.const 1) (i32.const 24)))
    (i32.store (i32.const 20) (i32.load (i32.const 24)))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))"""
    r = wasix_nb.run(wat, dirs=[f"{tree}::/"], check=True)
    assert r.stdout == b"hello world"


def test_a_preopen_outlives_its_host_while_a_file_uses_it(tree):
    """Another table (a forked child) may still hold a directory when the first host ends."""
    from wasix_nb.host.host import Host

    h = Host(dirs=[f"{tree}::/"])
    d = h.fds.file(3)
    d.refs += 1  # held elsewhere too
    h.close()
    assert os.fstat(d.root.fd)  # still open: the walk can go on
    d.refs -= 1
    d.release()
    assert d.root.fd == -1


def test_wasi_unstable_poll_oneoff_subscription_layout():
    """Snapshot 0's clock subscription carries a u64 identifier first: 56-byte subscriptions."""
    from wat_core import Driver

    d = Driver("poll_oneoff", module="wasi_unstable")
    try:
        sub = struct.pack("<QB7xQI4xQQH6x", 7, 0, 99, 1, 1_000_000, 0, 0)  # MONOTONIC, 1 ms
        sub += struct.pack("<QB7xQ32x", 8, 1, 0)  # fd_read on stdin
        d.mem.write(1024, sub)
        assert d.call("poll_oneoff", 1024, 2048, 2, 64) == 0
        n = d.mem.u32(64)
        events = [struct.unpack_from("<QHB", d.mem.read(2048 + 32 * i, 11)) for i in range(n)]
        assert (8, 0, 1) in events  # stdin is ready at once
    finally:
        d.close()


def test_files_and_dirs_in_the_views(tree):
    wat = """(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello.txt")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 9) (i32.const 0)
                      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)))
    (drop (call $close (i32.const 4)))
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 9) (i32.const 0)
                      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)))))"""
    r = wasix_nb.run(wat, dirs=[f"{tree}::/"], check=True)
    fds = r.fds
    assert list(fds.kind) == ["stdin", "stdout", "stderr", "dir", "file"]
    assert list(fds.local)[3:] == ["/", "/hello.txt"] and r.history.kind.iloc[0] == "file"
    svg = r.timeline().svg
    assert "#8c564b" in svg and "#bcbd22" in svg  # file and dir bars have their colours
    assert 'path="hello.txt"' in r.log.text()
