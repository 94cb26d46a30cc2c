"""Regression tests for the host-layer breaks of issue 9 (one per break, named after it).

Memory checks run the reproducer and a small control program each in a child process and compare their
peak RSS (tests/memcheck.py); the figures are printed (`pytest -s`) for the record.
"""

import os
import socket
import struct
import threading

import pytest

from memcheck import peak_rss
from watlib import Shim, imports, module

INVAL, NAMETOOLONG, NOTDIR, ACCES = 28, 37, 54, 2
MiB = 1 << 20


@pytest.fixture
def k(no_leak):
    with Shim() as shim:
        yield shim


def _iovec_program(fd: int, count: int, length: int, pages: int, call: str = "fd_write") -> str:
    """Fill `count` iovecs at 0 with {buf 0, len `length`} (all overlapping), write them once, exit with
    the errno."""
    body = f"""
  (func (export "_start") (local $i i32)
    (if (i32.ne (i32.const {length}) (i32.const 0)) (then
      (loop $l
        (i32.store (i32.add (i32.mul (local.get $i) (i32.const 8)) (i32.const 4)) (i32.const {length}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const {count}))))))
    (call $proc_exit (call ${call} (i32.const {fd}) (i32.const 0) (i32.const {count}) (i32.const 0))))"""
    return module(imports(call, "proc_exit"), body, pages=pages)


def _report(name, peak, control):
    print(f"\n{name}: peak RSS {peak:.0f} MiB, control {control:.0f} MiB, extra {peak - control:.0f} MiB")


# -- B3: gathered bytes per call are bounded ------------------------------------------------------------
def test_b3_overlapping_iovecs_do_not_amplify_memory():
    control, _ = peak_rss(_iovec_program(1, 1, 8, 4))
    # 1024 iovecs, each the whole 256 KiB memory: 256 MiB gathered (and kept as stdout) before the fix
    peak, rep = peak_rss(_iovec_program(1, 1024, 4 * 65536, 4))
    _report("B3 fd_write 1024 x 256 KiB overlapping iovecs", peak, control)
    assert rep["outcome"] == "exited" and rep["exit_code"] == 0, rep
    assert rep["stdout"] == 4 * MiB  # a short count at RW_MAX, as Linux caps one write
    assert peak - control < 48


def test_b3_one_call_moves_at_most_rw_max(k):
    from wasix_nb.abi.memory import RW_MAX

    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a = k.mem.u32(128)
    k.host.fds.file(a).os.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 * MiB)
    for i in range(16):  # 16 x 64 KiB (the whole memory) = 1 MiB
        k.mem.write(1024 + 8 * i, struct.pack("<II", 0, 65536))
    assert k.sock_send(a, 1024, 16, 1, 200) == 0  # DONT_WAIT: what fits now
    assert 0 < k.mem.u32(200) <= min(RW_MAX, 16 * 65536)
    assert k.fd_pipe(128, 132) == 0
    w = k.mem.u32(132)
    assert k.fd_fdstat_set_flags(w, 4) == 0  # NONBLOCK: what the pipe takes now
    assert k.fd_write(w, 1024, 16, 200) == 0 and 0 < k.mem.u32(200) <= RW_MAX


# -- B4: iovec and subscription counts are checked before anything is built --------------------------------
def test_b4_huge_iovec_count_is_inval_at_once():
    control, _ = peak_rss(_iovec_program(1, 1, 0, 512))
    # 4M zeroed iovecs fill a 32 MiB memory: a 4M-entry Python list (hundreds of MiB) before the fix
    peak, rep = peak_rss(_iovec_program(1, 4 << 20, 0, 512))
    _report("B4 fd_write with 4M iovecs", peak, control)
    assert rep["exit_code"] == INVAL, rep
    assert peak - control < 48


def test_b4_huge_poll_subscription_count_is_inval_at_once():
    body = """
  (func (export "_start")
    (call $proc_exit (call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 1000000) (i32.const 0))))"""
    control, _ = peak_rss(module(imports("poll_oneoff", "proc_exit"), body.replace("1000000", "1"), pages=768))
    peak, rep = peak_rss(module(imports("poll_oneoff", "proc_exit"), body, pages=768))  # 1M clocks, 48 MiB
    _report("B4 poll_oneoff with 1M subscriptions", peak, control)
    assert rep["exit_code"] == INVAL, rep
    assert peak - control < 48


def test_b4_iov_max_and_poll_limit(k):
    from wasix_nb.abi.memory import IOV_MAX

    for i in range(IOV_MAX + 1):
        k.mem.write(8 * i, struct.pack("<II", 16384, 1))
    k.mem.write(16384, b"x")
    assert k.fd_write(1, 0, IOV_MAX, 60000) == 0 and k.mem.u32(60000) == IOV_MAX
    assert k.fd_write(1, 0, IOV_MAX + 1, 60000) == INVAL
    assert k.sock_pair(3, 1, 0, 60000, 60004) == 0
    assert k.sock_send(k.mem.u32(60000), 0, IOV_MAX + 1, 0, 60008) == INVAL
    assert k.sock_recv(k.mem.u32(60000), 0, IOV_MAX + 1, 0, 60008, 60012) == INVAL
    assert k.poll_oneoff(0, 0, k.host.fds.limit + 1, 60000) == INVAL  # Linux: nfds past RLIMIT_NOFILE


# -- B16: POSIX answers, not IO from a host exception --------------------------------------------------------
_TS = struct.Struct("<B7xQ")
_DAYS30 = 30 * 86400 * 10**9


def test_b16_poll_timeout_longer_than_24_days(k):
    from watlib import subscription

    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a, b = k.mem.u32(128), k.mem.u32(132)
    k.host.fds.file(b).os.send(b"x")
    k.mem.write(1024, subscription(7, 0, 1, _DAYS30) + subscription(8, 1, a))
    assert k.poll_oneoff(1024, 2048, 2, 200) == 0
    assert k.mem.u32(200) == 1 and struct.unpack_from("<Q", k.mem.read(2048, 8))[0] == 8


def test_b16_receive_timeout_longer_than_24_days(k):
    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a, b = k.mem.u32(128), k.mem.u32(132)
    k.mem.write(300, _TS.pack(1, _DAYS30))
    assert k.sock_set_opt_time(a, 19, 300) == 0
    peer = k.host.fds.file(b).os
    t = threading.Timer(0.05, peer.send, args=(b"late",))
    t.start()
    k.mem.write(160, struct.pack("<II", 4096, 16))
    try:
        assert k.sock_recv(a, 160, 1, 0, 136, 140) == 0 and k.mem.read(4096, 4) == b"late"
    finally:
        t.join()


def test_b16_linger_of_2_63_ns_is_clamped(k):
    assert k.sock_open(1, 1, 0, 128) == 0
    fd = k.mem.u32(128)
    k.mem.write(300, _TS.pack(1, 2**63))
    assert k.sock_set_opt_time(fd, 13, 300) == 0  # Linux clamps l_linger
    assert k.sock_get_opt_time(fd, 13, 400) == 0
    assert _TS.unpack(k.mem.read(400, 16)) == (1, (2**31 - 1) * 10**9)
    assert not k.host.host_errors


def test_b16_local_path_not_utf8(k):
    path = b"/s\xff\xfe.sock"
    k.mem.write(0, bytes([3, 0]) + path + bytes(108 - len(path)))
    assert k.sock_open(3, 1, 0, 128) == 0
    srv = k.mem.u32(128)
    assert k.sock_bind(srv, 0) == 0 and k.sock_listen(srv, 1) == 0
    assert k.sock_addr_local(srv, 512) == 0 and k.mem.read(514, len(path) + 1) == path + b"\0"
    assert k.sock_open(3, 1, 0, 132) == 0
    assert k.sock_connect(k.mem.u32(132), 0) == 0
    assert os.path.exists(os.path.join(os.fsencode(k.host.scratch_dir), path[1:]))
    assert not k.host.host_errors


# -- B18: a failing LOCAL bind leaves nothing behind --------------------------------------------------------------
def _local(path: bytes) -> bytes:
    return bytes([3, 0]) + path + bytes(108 - len(path))


def test_b18_failing_local_bind_creates_nothing(k):
    assert k.sock_open(3, 1, 0, 128) == 0
    fd = k.mem.u32(128)
    for i in range(50):  # too long for sun_path once in the scratch dir
        k.mem.write(0, _local(b"/d%d/" % i + b"e/" * 8 + b"x" * 80))
        assert k.sock_bind(fd, 0) == NAMETOOLONG
    k.mem.write(0, _local(b"/a.sock"))
    assert k.sock_bind(fd, 0) == 0
    assert k.sock_open(3, 1, 0, 128) == 0
    k.mem.write(0, _local(b"/a.sock/b/c/x.sock"))  # a parent is a socket file: NOTDIR
    assert k.sock_bind(k.mem.u32(128), 0) == NOTDIR
    assert os.listdir(k.host.scratch_dir) == ["a.sock"]


def test_b18_os_refusal_removes_the_directories_it_made(k):
    assert k.sock_open(3, 1, 0, 128) == 0
    s = k.host.fds.file(k.mem.u32(128))

    class Refusing:  # the OS refusing the bind itself (EACCES, EADDRINUSE...)
        def __getattr__(self, name):
            return getattr(real, name)

        def bind(self, addr):
            raise PermissionError(13, "refused")

    real, s.os = s.os, Refusing()
    k.mem.write(0, _local(b"/p/q/r.sock"))
    try:
        assert k.sock_bind(k.mem.u32(128), 0) == ACCES
    finally:
        s.os = real
    assert os.listdir(k.host.scratch_dir) == []


# -- B7: the closed-descriptor history is bounded ---------------------------------------------------------------
def _dup_close_program(n: int) -> str:
    body = f"""
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $fd_dup (i32.const 1) (i32.const 64)))
      (drop (call $fd_close (i32.load (i32.const 64))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {n})))))"""
    return module(imports("fd_dup", "fd_close"), body, pages=1)


def test_b7_closed_descriptor_history_is_bounded():
    from wasix_nb.host.fdtable import HISTORY_LIMIT

    control, _ = peak_rss(_dup_close_program(1), trace_limit=1000)
    peak, rep = peak_rss(_dup_close_program(100_000), trace_limit=1000)  # 100k closes: ~63 MiB of rows before
    _report("B7 100,000 closes", peak, control)
    assert rep["outcome"] == "returned", rep
    assert rep["history"] == HISTORY_LIMIT
    assert peak - control < 24


def test_b7_history_keeps_the_last_rows_and_counts_the_rest():
    from wasix_nb.host.fdtable import FdTable, OpenFile

    t = FdTable(16, history_limit=5)
    for _ in range(12):
        t.close(t.add(OpenFile()))
    rows = t.history_rows()
    assert len(rows) == 5 and t.history_dropped == 7
    assert [r["fd"] for r in rows] == [0] * 5


# -- B9: multicast joins go through the policy ------------------------------------------------------------------
_B9_CHILD = r"""
import ipaddress, json, socket, subprocess, sys
sys.path.insert(0, sys.argv[1])
from watlib import Shim
subprocess.run("ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 10.9.9.1/24 dev v0"
               " && ip -6 addr add fd00::1/64 dev v0 nodad && ip link set v0 up && ip link set v1 up"
               " && ip route add default dev v0", shell=True, check=True)
out = {}
for net in (None, "any"):
    with Shim(net=net) as k:
        assert k.sock_open(1, 2, 0, 128) == 0 and k.sock_open(2, 2, 0, 132) == 0
        k.mem.write(400, bytes([239, 101, 120, 102, 0, 0, 0, 0]))       # group, INADDR_ANY (the route: v0)
        e4, mark4 = k.sock_join_multicast_v4(k.mem.u32(128), 400, 404), k.last()[3]
        k.mem.write(500, ipaddress.IPv6Address("ff05::1234").packed)
        e6, mark6 = k.sock_join_multicast_v6(k.mem.u32(132), 500, socket.if_nametoindex("v0")), k.last()[3]
        k.mem.write(600, bytes([239, 101, 120, 103, 127, 0, 0, 1]))     # on loopback: allowed
        e_lo = k.sock_join_multicast_v4(k.mem.u32(128), 600, 604)
        out[str(net)] = dict(e4=e4, mark4=mark4, e6=e6, mark6=mark6, e_lo=e_lo,
                             igmp="667865EF" in open("/proc/net/igmp").read(),
                             mld="ff050000000000000000000000001234" in open("/proc/net/igmp6").read())
print(json.dumps(out))
"""


def _netns_python(code, *args):
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip (a fresh network namespace)")
    r = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_b9_multicast_join_needs_the_policy():
    import json

    out = json.loads(_netns_python(_B9_CHILD, os.path.dirname(os.path.abspath(__file__))).splitlines()[-1])
    default, opened = out["None"], out["any"]
    assert default["e4"] == ACCES and "denied by policy" in default["mark4"]
    assert default["e6"] == ACCES and "denied by policy" in default["mark6"]
    assert not default["igmp"] and not default["mld"]  # nothing was announced
    assert default["e_lo"] == 0
    # the same joins with the policy opened: the setup would have announced them
    assert opened["e4"] == 0 and opened["e6"] == 0 and opened["igmp"] and opened["mld"]


def test_b9_allow_list_names_groups(k):
    from wasix_nb.host.policy import Policy

    p = Policy("239.1.0.0/16")
    assert p.allows_group(__import__("ipaddress").ip_address("239.1.2.3"), False)
    assert not p.allows_group(__import__("ipaddress").ip_address("239.2.2.3"), False)
    assert Policy().allows_group(__import__("ipaddress").ip_address("ff01::1"), False)  # interface-local


# -- B10: SO_REUSEPORT cannot take a host service's connections ---------------------------------------------
def test_b10_reuse_port_refused_by_default():
    svc = socket.socket()
    svc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    svc.bind(("127.0.0.1", 0))
    svc.listen(8)
    port = svc.getsockname()[1]
    try:
        for net, want in ((None, ACCES), ("any", 0)):
            with Shim(net=net) as k:
                k.mem.write(0, struct.pack("<BxH", 1, port) + bytes([127, 0, 0, 1]) + bytes(20))
                assert k.sock_open(1, 1, 0, 128) == 0
                fd = k.mem.u32(128)
                assert k.sock_set_opt_flag(fd, 1, 1) == want
                if want:
                    assert "denied by policy" in k.last()[3]
                    assert k.sock_bind(fd, 0) == 3  # ADDRINUSE: the port stays the service's
                    assert k.sock_set_opt_flag(fd, 1, 0) == 0  # turning it off is always fine
                else:
                    assert k.sock_bind(fd, 0) == 0  # what the default prevents: a shared port
    finally:
        svc.close()


# -- B12: a program blocked on the CLI's real stdin can be stopped -----------------------------------------------
def _stdin_reader(nonblock: bool) -> str:
    from watlib import CHECK

    setflags = "(call $check (call $fd_fdstat_set_flags (i32.const 0) (i32.const 4)))" if nonblock else ""
    body = (
        CHECK
        + f"""
  (func (export "_start")
    (i32.store (i32.const 160) (i32.const 4096)) (i32.store (i32.const 164) (i32.const 64))
    (i32.store (i32.const 168) (i32.const 512)) (i32.store (i32.const 172) (i32.const 6))
    {setflags}
    (call $check (call $fd_write (i32.const 1) (i32.const 168) (i32.const 1) (i32.const 144)))
    (call $check (call $fd_read (i32.const 0) (i32.const 160) (i32.const 1) (i32.const 136)))
    (call $proc_exit (i32.const 0)))"""
    )
    return module(imports("fd_fdstat_set_flags", "fd_write", "fd_read", "proc_exit"), body, data=[(512, b"ready\n")])


def _cli_on_open_pipe(tmp_path, wat, *flags, signal_after_ready=None):
    """Run the CLI with a stdin pipe that is never closed; returns (rc, stdout)."""
    import subprocess
    import sys

    prog = tmp_path / "reader.wat"
    prog.write_text(wat)
    p = subprocess.Popen(
        [sys.executable, "-m", "wasix_nb", "run", str(prog), *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = p.stdout.readline()
        if signal_after_ready is not None and first == b"ready\n":
            p.send_signal(signal_after_ready)
        rc = p.wait(60)  # a guard against a hang, not a timing assertion
        return rc, first
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()


def test_b12_blocked_stdin_honours_timeout_sigint_and_nonblock(tmp_path):
    import signal

    assert _cli_on_open_pipe(tmp_path, _stdin_reader(False), "--timeout", "0.5") == (124, b"ready\n")
    assert _cli_on_open_pipe(tmp_path, _stdin_reader(False), signal_after_ready=signal.SIGINT) == (130, b"ready\n")
    assert _cli_on_open_pipe(tmp_path, _stdin_reader(True), "--timeout", "30") == (100 + 6, b"ready\n")  # AGAIN


def test_b12_poll_waits_on_a_real_stdin():
    from watlib import events, subscription

    r, w = os.pipe()
    try:
        with os.fdopen(os.dup(r), "rb", buffering=0) as f, Shim(stdin=f) as k:
            k.mem.write(1024, subscription(1, 1, 0) + subscription(2, 0, 1, 20_000_000))
            assert k.poll_oneoff(1024, 2048, 2, 200) == 0
            assert [e[0] for e in events(k.mem.read(2048, 64), k.mem.u32(200))] == [2]  # only the clock
            os.write(w, b"hi")
            assert k.poll_oneoff(1024, 2048, 2, 200) == 0
            evs = events(k.mem.read(2048, 64), k.mem.u32(200))
            assert evs[0][0] == 1 and evs[0][3] == 2  # 2 bytes ready
    finally:
        os.close(r)
        os.close(w)


# -- B13 / B21: resolve is cancellable and keeps to the allow-list ------------------------------------------------
class FakeResolver:
    """Stands in for socket.getaddrinfo (never real DNS): records the names asked; `hang` makes it block
    until released."""

    def __init__(self, answer="192.0.2.7", hang=False):
        self.asked, self.answer = [], answer
        self.entered, self.release = threading.Event(), threading.Event()
        if not hang:
            self.release.set()

    def __call__(self, name, port, *args, **kwargs):
        self.asked.append(name)
        self.entered.set()
        self.release.wait(30)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.answer, 0))]


def _resolve_program(name: bytes) -> str:
    body = f"""
  (func (export "_start")
    (call $proc_exit (call $resolve (i32.const 512) (i32.const {len(name)}) (i32.const 80)
                                    (i32.const 1024) (i32.const 4) (i32.const 900))))"""
    return module(imports("resolve", "proc_exit"), body, data=[(512, name)])


def test_b13_kill_ends_a_slow_resolve(monkeypatch):
    import wasix_nb

    fake = FakeResolver(hang=True)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    proc = wasix_nb.Process(_resolve_program(b"slow.example"), net="any").start()
    try:
        assert fake.entered.wait(30)
        result = proc.kill()  # within kill()'s own wait (it gave up before: the run "exited")
        assert result is not None and result.outcome == "killed"
    finally:
        fake.release.set()
        proc.wait(30)


def test_b13_resolve_gives_up_after_its_deadline(monkeypatch, k):
    from wasix_nb.host.calls import resolve as mod

    fake = FakeResolver(hang=True)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    monkeypatch.setattr(mod, "RESOLVE_TIMEOUT", 0.05)
    k.host.policy = __import__("wasix_nb.host.policy", fromlist=["Policy"]).Policy("any")
    k.mem.write(512, b"slow.example")
    try:
        assert k.resolve(512, 12, 80, 1024, 4, 900) == 6  # AGAIN
        assert "resolver" in k.last()[3]
    finally:
        fake.release.set()


def test_b21_allow_list_resolves_only_listed_names(monkeypatch):
    fake = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with Shim(net="10.0.0.0/8,svc.example:443") as k:
        k.mem.write(512, b"other.example")
        assert k.resolve(512, 13, 80, 1024, 4, 900) == ACCES
        assert "denied by policy" in k.last()[3]
        assert fake.asked == []  # never sent to the system resolver
        k.mem.write(512, b"10.1.2.3")
        assert k.resolve(512, 8, 80, 1024, 4, 900) == 0  # literals and localhost still answer
        k.mem.write(512, b"localhost")
        assert k.resolve(512, 9, 80, 1024, 4, 900) == 0
        assert fake.asked == []
        k.mem.write(512, b"SVC.example.")
        assert k.resolve(512, 12, 80, 1024, 4, 900) == 0 and k.mem.u32(900) == 1
        assert fake.asked == ["SVC.example."] and k.mem.read(1026, 4) == bytes([192, 0, 2, 7])
        # its address is now reachable on the listed port (this process only)
        assert k.host.policy.allows(1, "192.0.2.7", 443) and not k.host.policy.allows(1, "192.0.2.7", 80)
    with Shim(net="10.0.0.0/8,svc.example:443") as k2:
        assert not k2.host.policy.allows(1, "192.0.2.7", 443)


# -- B15: one descriptor budget for the whole kernel, with a reserve --------------------------------------------
_B15_CHILD = r"""
import json, os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))        # as `ulimit -n 256`
sys.path.insert(0, sys.argv[1])
from watlib import Shim
from wasix_nb.host.fdtable import BUDGET
with Shim() as k:
    n = 0
    while n < 2000:
        err = k.sock_open(1, 1, 0, 128)
        if err:
            break
        n += 1
    mark = k.last()[3]
    files = []
    try:                                   # the kernel itself still has room (its reserve)
        for _ in range(100):
            files.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    for f in files:
        os.close(f)
print(json.dumps(dict(n=n, err=err, mark=mark, files=len(files), budget=BUDGET.limit, used=BUDGET.used)))
"""


def test_b15_kernel_keeps_a_descriptor_reserve():
    import json
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", _B15_CHILD, os.path.dirname(os.path.abspath(__file__))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["budget"] == 128  # half of RLIMIT_NOFILE
    assert out["err"] == 41 and "budget" in out["mark"], out  # NFILE, before the OS ran out
    assert out["n"] < out["budget"] and out["files"] == 100, out
    assert out["used"] == 0  # everything given back at the end


def test_b15_budget_is_shared_by_every_process(monkeypatch):
    from wasix_nb.host.fdtable import BUDGET

    monkeypatch.setattr(BUDGET, "_limit", BUDGET.used + 4 + 10)  # the two wake pipes + 10
    with Shim() as a, Shim() as b:
        opened = 0
        for k in (a, b, a, b) * 4:
            opened += k.sock_open(1, 2, 0, 128) == 0
        assert opened == 10
        assert a.sock_open(1, 2, 0, 128) == 41 and b.fd_pipe(128, 132) == 41
        assert a.fd_dup(3, 200) == 0  # a dup is the same open file: no new OS descriptor
        used = BUDGET.used
    assert BUDGET.used == used - 14  # all given back
