"""Real C programs (tests/c, built with clang for wasm32-wasi) run end to end on the host.

Socket programs talk to Python peers over 127.0.0.1.  A program whose imports the host cannot link
yet (a socket call not written, or written with another signature) is skipped, naming those imports.
"""

import os
import re
import socket
import threading

import pytest
import wasmtime

import cbuild
import wasix_nb
from wasix_nb import Process
from wasix_nb.host import calls  # noqa: F401  (registers every syscall)
from wasix_nb.host import registry

pytestmark = pytest.mark.clang
TIMEOUT = 20


@pytest.fixture(scope="session")
def cprog(request, tmp_path_factory):
    reason = cbuild.missing()
    if reason:
        pytest.skip(reason)
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    out = cache.mkdir("wasm-c") if cache else tmp_path_factory.mktemp("wasm-c")
    return lambda name, shared=False: cbuild.build(name, out, shared=shared)


def unlinked(path):
    """Imports of the program the host has no matching function for."""
    module = wasmtime.Module.from_file(wasmtime.Engine(), str(path))
    bad = []
    for imp in module.imports:
        if isinstance(imp.type, wasmtime.FuncType):
            call = registry.lookup(imp.module, imp.name)
            if call is None or not registry.same_type(imp.type, call):
                bad.append(f"{imp.module}.{imp.name}")
    return bad


def needs_host(path):
    bad = unlinked(path)
    if bad:
        pytest.skip("host does not implement yet: " + ", ".join(bad))
    return path


# -- programs without sockets --------------------------------------------------------------------
def test_hello_args_env_and_exit_status(cprog):
    r = wasix_nb.run(cprog("hello"), args=["one two", "exit=4"], env={"GREETING": "hi there"})
    assert r.outcome == "exited" and r.exit_code == 4, r.message
    out = r.stdout.decode()
    assert "hello from C, argc=3" in out
    assert "argv[1]=one two\n" in out and "argv[2]=exit=4\n" in out
    assert "GREETING=hi there\n" in out
    assert r.stderr == b"to stderr\n"


def test_hello_without_env(cprog):
    r = wasix_nb.run(cprog("hello"), check=True)
    assert "GREETING=(unset)" in r.stdout.decode()
    assert r.returncode == 0


def test_wasix_single_thread_calls(cprog):
    r = wasix_nb.run(cprog("wasix_misc"), check=True, timeout=TIMEOUT)
    out = r.stdout.decode()
    assert "getcwd e=0 len=1 cwd=/\n" in out
    assert "getcwd small e=68 len=1\n" in out  # RANGE, and the length needed
    assert f"tid=1 pid=1 parallelism={len(os.sched_getaffinity(0))}\n" in out  # the machine's cores
    assert "futex differs e=0 woken=1\n" in out  # value moved on: returns at once
    assert "futex timeout e=0 woken=0\n" in out  # nobody to wake us: timed out
    assert "futex wake e=0 woken=0\n" in out
    assert "tty e=0 cols=80 rows=24 stdout_tty=0\n" in out
    assert "nanosleep rc=0 slept_enough=1\n" in out
    assert re.search(r"fopen failed errno=\d+", out)  # no filesystem, no crash
    waits = [e for e in r.log if e.name == "futex_wait"]
    assert waits[1].mark == "timed out" and waits[1].duration_ns >= 15_000_000


def test_shared_memory_import(cprog):
    path = cprog("shared", shared=True)
    module = wasmtime.Module.from_file(wasmtime.Engine(_threads_config()), str(path))
    (mem,) = [i for i in module.imports if (i.module, i.name) == ("env", "memory")]
    assert mem.type.is_shared
    r = wasix_nb.run(path, check=True)
    # the message was written in a page grown after the host took its view of memory
    assert r.stdout == b"shared memory: counter=1000 pages=3 wake=0/0\n"
    assert r.process.shared_memory is not None


def _threads_config():
    cfg = wasmtime.Config()
    cfg.wasm_threads = True
    cfg.shared_memory = True
    return cfg


# -- sockets ----------------------------------------------------------------------------------------
class Lines:
    """Collects a program's stdout as it is written and waits for a line to appear."""

    def __init__(self):
        self.buf = b""
        self.cond = threading.Condition()

    def __call__(self, data):
        with self.cond:
            self.buf += data
            self.cond.notify_all()

    def wait_for(self, pattern, timeout=TIMEOUT):
        with self.cond:
            m = self.cond.wait_for(lambda: re.search(pattern, self.buf.decode()), timeout)
            assert m, f"no {pattern!r} in output: {self.buf!r}"
            return m


def _echo(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    return got


def test_tcp_echo_server_with_python_clients(cprog):
    lines = Lines()
    proc = Process(needs_host(cprog("tcp_server")), args=["0", "2"], stdout=lines, timeout=TIMEOUT).start()
    try:
        port = int(lines.wait_for(r"listening (\d+)\n").group(1))
        assert port > 0
        assert _echo(port, b"hello, wasm") == b"hello, wasm"
        big = bytes(range(256)) * 256  # 64 KiB: several recv/send rounds
        assert _echo(port, big) == big
        r = proc.wait(TIMEOUT)
    finally:
        proc.kill()
    assert r is not None and r.ok, r and r.message
    out = r.stdout.decode()
    assert "accepted fd=4 from 127.0.0.1" in out
    assert "echoed 11 bytes" in out and f"echoed {len(big)} bytes" in out
    assert [row["fd"] for row in r.fd_rows] == [0, 1, 2]  # both sockets closed before exit


def test_tcp_server_killed_while_blocked_in_accept(cprog):
    lines = Lines()
    proc = Process(needs_host(cprog("tcp_server")), args=["0", "1"], stdout=lines, timeout=TIMEOUT).start()
    port = int(lines.wait_for(r"listening (\d+)\n").group(1))
    r = proc.kill(timeout=5)
    assert r is not None and r.outcome == "killed"
    with pytest.raises(OSError):  # its socket was closed
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _ipv6_loopback():
    from conftest import has_ipv6

    return has_ipv6()


@pytest.mark.parametrize("family", ["4", "6"])
def test_tcp_client_against_python_server(cprog, family):
    path = needs_host(cprog("tcp_client"))
    if family == "6" and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine")
    host = "127.0.0.1" if family == "4" else "::1"
    srv = socket.create_server((host, 0), family=socket.AF_INET if family == "4" else socket.AF_INET6)
    srv.settimeout(TIMEOUT)
    port = srv.getsockname()[1]
    seen = []

    def serve():
        conn, _ = srv.accept()
        with conn:
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
            seen.append(data)
            conn.sendall(data.upper())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = wasix_nb.run(path, args=[str(port), "hello from wasm", family], timeout=TIMEOUT)
    finally:
        t.join(TIMEOUT)
        srv.close()
    assert r.ok, r.message + r.stdout.decode()
    assert seen == [b"hello from wasm"]
    assert r.stdout.decode() == "reply: HELLO FROM WASM\n"
    names = {e.name for e in r.log}
    assert {"sock_connect", "fd_write", "fd_read", "sock_shutdown"} <= names


def test_tcp_client_connection_refused(cprog):
    path = needs_host(cprog("tcp_client"))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = wasix_nb.run(path, args=[str(port), "x"], timeout=TIMEOUT)
    assert r.exit_code == 1 and "error sock_connect 14" in r.stdout.decode()  # CONNREFUSED


def test_udp_pair(cprog):
    r = wasix_nb.run(needs_host(cprog("udp_pair")), check=True, timeout=TIMEOUT)
    assert r.stdout.decode() == ("b got 4/4 bytes 'ping' from port a\na got 4/4 bytes 'pong' from port b\n")


# -- files through wasi-libc ------------------------------------------------------------------------------
def test_files_through_libc(cprog, tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    r = wasix_nb.run(cprog("files"), dirs=[f"{box}::/data", f"{tmp_path}::/"], timeout=TIMEOUT)
    out = r.stdout.decode()
    assert r.ok, (r.message, out)
    assert "first line: line one\n" in out and "after seek: line two\n" in out and "ftell=18\n" in out
    assert "size=29 regular=1\n" in out
    assert "mkdir=0\n" in out and "mkdir again errno=File exists\n" in out
    assert "readlink=13 sub/notes.txt\n" in out and "link=0\n" in out
    assert "getcwd=/data/sub\n" in out and "relative open=ok\n" in out
    assert "escape=OPENED" not in out
    assert "listing: hard link sub\n" in out
    assert "rmdir nonempty=Directory not empty\n" in out
    assert "missing=No such file or directory\n" in out and "dev/null=ok\n" in out
    assert (box / "sub" / "notes.txt").read_text() == "line one\nline two\nline three\n"
    assert sorted(p.name for p in box.iterdir()) == ["link", "sub"]
