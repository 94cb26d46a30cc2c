"""The real WASIX servers of ../shared/realwasix under wasix_nb (trace on) vs wasmer-sdk, side by side.

    python benchmarks/real_servers.py [--rounds 5] [--seconds 3] [--conc 8] [--quick]

Servers (built by Wasmer, see shared/realwasix/manifest.json): `example-http-ok` (HTTP on [::]:80, one
request per connection, 200 OK) and `example-tcp-listener` (accepts on 127.0.0.1:7878 and drops each
connection).  wasix_nb runs them as users do, `python -m wasix_nb run FILE` (every host call traced);
wasmer-sdk (`pip install wasix_nb[compare]`) runs them in a sandbox with host networking, in a Python
process of the same shape (its stdout discarded).  Rounds are interleaved (the order alternates), and
each trial runs in a fresh network namespace (`unshare -n` as root, `unshare -rn` where user namespaces
are allowed; loopback up), so the fixed ports never collide; otherwise on this machine's loopback (port
80 then needs root and is skipped).

A trial: start the server, wait for its port, warm up, then a client keeps `--conc` connections in
flight (connect, send the request, read the reply or the close, reconnect) for `--seconds`; the
server's CPU time (all its threads, from /proc) is read before and after.  The client is
benchmarks/loadgen.c, built with `cc` on first use (a Python client costs as much CPU per connection
as the servers and would set the pace on 2 cores); without a C compiler, a Python client (said so).  Prints per
server the ratio wasix/wasmer of requests per second (median and worst round), each runtime's median
rate and the server CPU microseconds per request.  Then a burst: `--burst` connections opened at once
(requests sent), all queued before the server takes them, and the server's CPU per request for them:
the steadiest figure on a busy machine (no client in the way, no scheduling luck), printed as
`burst_cpu_per_request_ratio` (wasmer CPU / wasix CPU: above 1, wasix_nb spends less).  `--untraced`
adds wasix_nb with a bare per-call wrapper (no trace event, no capture; a measurement only) and prints
what the trace costs per request.
"""

import argparse
import hashlib
import json
import shutil
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import ROOT, can_unshare, figures, netns_cmd, spread  # noqa: E402

SERVERS = {  # name -> (file, connect address, request or None)
    "http-ok": ("example-http-ok.wasm", ("::1", 80), b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"),
    "tcp-listener": ("example-tcp-listener.wasm", ("127.0.0.1", 7878), None),
}
UNIT = {"http-ok": "requests", "tcp-listener": "connections"}


def realwasix():
    d = os.environ.get("WASIX_NB_REALWASIX") or os.path.join(ROOT, "..", "shared", "realwasix")
    return d if os.path.isdir(d) else None


def have_wasmer() -> bool:
    try:
        import wasmer_sdk  # noqa: F401

        return True
    except ImportError:
        return False


# -- the server under wasmer-sdk (a child process: `--wasmer-serve FILE`) ----------------------------------
def wasmer_serve(path):
    import asyncio
    from pathlib import Path

    from wasmer_sdk import Wasmer

    async def main():
        cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wasmer-sdk")
        async with Wasmer(cache_root=cache) as w:
            pkg = await w.packages.load(Path(path).read_bytes())
            async with await w.sandboxes.create(packages=[pkg], network="host") as sb:
                proc = await sb.command(pkg, []).spawn(stdout="discard", stderr="discard")
                await proc.wait()

    asyncio.run(main())


def untraced_serve(path):
    """`python -m wasix_nb run FILE` with the per-call wrapper replaced by a bare one (no trace event, no
    capture): what the trace costs per request.  A measurement only; users always get the trace."""
    from wasix_nb.__main__ import main as cli
    from wasix_nb.abi.errno import Errno, WasiError
    from wasix_nb.abi.memory import Fault
    from wasix_nb.host import registry

    fault = int(Errno.FAULT)

    def bare_wrap(call, host, rules=(), name=None):
        fn = call.fn

        def bare(*args):
            try:
                r = fn(host, *args)
                return r if r.__class__ is int else r[0]
            except WasiError as e:
                return e.errno
            except Fault:
                return fault

        if call.result is None:

            def noresult(*args):
                bare(*args)

            return noresult
        return bare

    registry.wrap = bare_wrap
    sys.exit(cli(["run", path]))


def server_cmd(runtime, path):
    if runtime == "wasix":
        return [sys.executable, "-m", "wasix_nb", "run", path]
    if runtime == "untraced":
        return [sys.executable, __file__, "--untraced-serve", path]
    return [sys.executable, __file__, "--wasmer-serve", path]


# -- CPU time of a process, all threads ----------------------------------------------------------------------
def cpu_ns(pid) -> int:
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tasks = []
    for t in tasks:
        try:  # schedstat: nanoseconds on the CPU (finer than stat's clock ticks)
            total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    if total:
        return total
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 10**9 // os.sysconf("SC_CLK_TCK")


# -- the clients --------------------------------------------------------------------------------------------
def loadgen():
    """Path of the built C load generator, or None without a C compiler."""
    src = os.path.join(HERE, "loadgen.c")
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None
    data = open(src, "rb").read()
    out_dir = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wasix_nb")
    exe = os.path.join(out_dir, "loadgen-" + hashlib.sha256(data).hexdigest()[:12])
    if not os.path.exists(exe):
        os.makedirs(out_dir, exist_ok=True)
        tmp = f"{exe}.{os.getpid()}"
        if subprocess.run([cc, "-O2", "-o", tmp, src], capture_output=True).returncode != 0:
            return None
        os.replace(tmp, exe)
    return exe


def load_c(exe, addr, request, seconds, conc) -> int:
    argv = [exe, addr[0], str(addr[1]), str(seconds), str(conc)] + ([request.decode()] if request else [])
    done, failed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    return int(done)


# -- the Python client (no C compiler) ---------------------------------------------------------------------------------------------
def load_py(addr, request, seconds, conc) -> int:
    """Completed requests (or connections) in `seconds` with `conc` of them in flight."""
    sel = selectors.DefaultSelector()
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    done = 0

    def start():
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect_ex(addr)
        sel.register(s, selectors.EVENT_WRITE, [b""])

    for _ in range(conc):
        start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, ev in sel.select(0.5):
            s, got = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:  # connected (or failed): send the request, if any
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0 and request:
                    try:
                        s.send(request)
                    except OSError:
                        err = 1
                if err:
                    sel.unregister(s)
                    s.close()
                    start()
                    continue
                sel.modify(s, selectors.EVENT_READ, got)
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            got[0] += data
            complete = (not data) if request is None else (b"\r\n\r\n" in got[0] or not data)
            if complete:
                if request is None or got[0].startswith(b"HTTP/1.1 200"):
                    done += 1
                sel.unregister(s)
                s.close()
                start()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return done


def wait_port(addr, proc, timeout=60):
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {proc.stderr.read().decode()[-500:]}")
        try:
            with socket.socket(family) as s:
                s.settimeout(1)
                s.connect(addr)
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the server never listened")


def trial(runtime, server, seconds, conc, burst_n=2000):
    """One server under one runtime (runs inside its network namespace); returns a dict."""
    fname, addr, request = SERVERS[server]
    exe = loadgen()
    if exe is not None:

        def load(addr, request, seconds, conc):
            return load_c(exe, addr, request, seconds, conc)
    else:
        load = load_py
    path = os.path.join(realwasix(), fname)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        server_cmd(runtime, path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    )
    try:
        wait_port(addr, proc)
        load(addr, request, min(0.5, seconds / 4), conc)  # warm up
        c0, t0 = cpu_ns(proc.pid), time.monotonic()
        n = load(addr, request, seconds, conc)
        c1, t1 = cpu_ns(proc.pid), time.monotonic()
        burst_us = burst(proc.pid, addr, request, burst_n)
        if proc.poll() is not None:
            raise RuntimeError(f"the server died: {proc.stderr.read().decode()[-500:]}")
    finally:
        proc.kill()
        proc.wait()
    return {"rate": n / (t1 - t0), "n": n, "cpu_us": (c1 - c0) / 1000 / max(n, 1), "burst_cpu_us": burst_us}


def burst(pid, addr, request, n) -> float:
    """Server CPU microseconds per request for `n` connections opened at once (requests sent), all
    queued before the server can take them: no client in the way, no waiting, little noise."""
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    sel = selectors.DefaultSelector()
    conns = []
    c0 = cpu_ns(pid)
    try:
        for _ in range(n):
            c = socket.socket(family)
            conns.append(c)
            c.connect(addr)
            if request:
                c.sendall(request)
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
        pending, end = n, time.monotonic() + 60
        while pending and time.monotonic() < end:
            for key, _ in sel.select(1):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data or (request and b"\r\n\r\n" in data):
                    sel.unregister(key.fileobj)
                    pending -= 1
        if pending:
            raise RuntimeError(f"{pending} of {n} burst connections got no answer")
        return (cpu_ns(pid) - c0) / 1000 / n
    finally:
        for c in conns:
            c.close()


def run_trial(runtime, server, seconds, conc, burst_n, netns, nice=0):
    argv = [sys.executable, __file__, "--trial", runtime, server, str(seconds), str(conc), str(burst_n)]
    argv = netns_cmd(argv) if netns else argv
    if nice:
        argv = ["nice", "-n", str(nice)] + argv
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{runtime} {server}: {out.stderr.strip()[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--wasmer-serve"]:
        return wasmer_serve(argv[1])
    if argv[:1] == ["--untraced-serve"]:
        return untraced_serve(argv[1])
    if argv[:1] == ["--trial"]:
        print(json.dumps(trial(argv[1], argv[2], float(argv[3]), int(argv[4]), int(argv[5]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="measured load per trial")
    ap.add_argument("--conc", type=int, default=8, help="connections in flight")
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run every trial (server and client alike) at this niceness, e.g. -10 as root: "
        "a stand-in for a quiet machine when other work shares the CPUs",
    )
    ap.add_argument(
        "--untraced",
        action="store_true",
        help="also run wasix_nb with a bare per-call wrapper (no trace): what the trace costs",
    )
    ap.add_argument("--burst", type=int, default=2000, help="connections of the burst measurement")
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--quick", action="store_true", help="a few seconds (CI)")
    a = ap.parse_args(argv)
    if a.quick:
        a.rounds, a.seconds, a.burst = 2, 0.5, 300
    if realwasix() is None:
        print("real_servers: skipped (no real WASIX binaries: set WASIX_NB_REALWASIX)")
        return
    netns = can_unshare()
    if a.nice:
        print(f"real_servers: every trial at niceness {a.nice} (servers and client alike)")
    if loadgen() is None:
        print("real_servers: no C compiler: the Python client (slower; it may set the pace)")
    runtimes = ["wasix"] + (["untraced"] if a.untraced else [])
    if have_wasmer():
        runtimes.append("wasmer")
    else:
        print("real_servers: wasmer-sdk is not installed (pip install 'wasix_nb[compare]'): wasix_nb only")
    servers = a.servers.split(",")
    if not netns:
        print(
            "real_servers: no network namespaces here (not root, no user namespaces): on this machine's loopback; "
            "a second trial of a server may find its port still in TIME_WAIT"
        )
        if os.geteuid() != 0 and "http-ok" in servers:
            print("real_servers: http-ok skipped (it binds port 80, which needs root)")
            servers.remove("http-ok")
    res = {(r, s): [] for r in runtimes for s in servers}
    for i in range(a.rounds):
        order = runtimes if i % 2 == 0 else runtimes[::-1]
        for s in servers:
            for r in order:
                res[r, s].append(run_trial(r, s, a.seconds, a.conc, a.burst, netns, a.nice))
    med = statistics.median
    for s in servers:
        w, unit, one = res["wasix", s], UNIT[s], UNIT[s][:-1]
        line = (
            f"{s}: wasix {med(x['rate'] for x in w):.0f} {unit}/s, server CPU {med(x['cpu_us'] for x in w):.0f}"
            f" us per {one} (burst: {med(x['burst_cpu_us'] for x in w):.1f})"
        )
        if "untraced" in runtimes:
            u = res["untraced", s]
            trace_cost = [x["burst_cpu_us"] - y["burst_cpu_us"] for x, y in zip(w, u)]
            print(
                f"{s}_trace_cost_us_per_{one} (burst CPU traced - untraced) median {med(trace_cost):.1f} "
                f"{figures(trace_cost, '{:.1f}')}; untraced {med(x['rate'] for x in u):.0f} {unit}/s, "
                f"burst {med(x['burst_cpu_us'] for x in u):.1f} us"
            )
        if "wasmer" in runtimes:
            m = res["wasmer", s]
            ratios = [x["rate"] / y["rate"] for x, y in zip(w, m)]
            cpu = [y["cpu_us"] / x["cpu_us"] for x, y in zip(w, m)]
            bcpu = [y["burst_cpu_us"] / x["burst_cpu_us"] for x, y in zip(w, m)]
            print(f"{s}_{unit}_per_s_ratio {spread(ratios)} {figures(ratios)}")
            print(f"{s}_cpu_per_{one}_ratio (wasmer/wasix, higher is better) {spread(cpu)} {figures(cpu)}")
            print(f"{s}_burst_cpu_per_{one}_ratio (wasmer/wasix) {spread(bcpu)} {figures(bcpu)}")
            line += (
                f"; wasmer {med(x['rate'] for x in m):.0f} {unit}/s, server CPU "
                f"{med(x['cpu_us'] for x in m):.0f} us per {one} (burst: {med(x['burst_cpu_us'] for x in m):.1f})"
            )
        print(line)


if __name__ == "__main__":
    main()
