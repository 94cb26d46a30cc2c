"""Shared by the benchmarks (not a benchmark: CI runs benchmarks/[!_]*.py)."""

import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MARK = "WASIX_NB_BENCH_NETNS"


def _unshare_flags():
    """["-n"] as root, ["-r", "-n"] where unprivileged user namespaces work, else None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    for flags in ([["-n"]] if os.geteuid() == 0 else []) + [["-r", "-n"]]:
        if subprocess.run(["unshare", *flags, "true"], capture_output=True).returncode == 0:
            return flags
    return None


_FLAGS = []


def can_unshare() -> bool:
    if not _FLAGS:
        _FLAGS.append(_unshare_flags())
    return _FLAGS[0] is not None


def netns_cmd(argv) -> list:
    """`argv` run in a fresh network namespace with loopback up (as root, or in a user namespace
    where the system allows it), else unchanged."""
    if not can_unshare():
        return list(argv)
    return ["unshare", *_FLAGS[0], "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


def reexec_in_netns():
    """Run this whole benchmark again in its own network namespace (root only): other traffic on
    the machine's loopback and its TIME_WAIT ports stay out of the figures, and the TCP counters
    (listen_overflows) are this run's alone.  Returns False when it stays here."""
    if os.environ.get(_MARK) or not can_unshare():
        return False
    env = dict(os.environ, **{_MARK: "1"})
    rc = subprocess.call(netns_cmd([sys.executable, *sys.argv]), env=env)
    sys.exit(rc)


def in_netns() -> bool:
    return bool(os.environ.get(_MARK))


def tcp_counters() -> dict:
    """TcpExt counters of this network namespace (ListenOverflows, ListenDrops, TCPSynRetrans...)."""
    try:
        lines = open("/proc/net/netstat").read().splitlines()
    except OSError:
        return {}
    out = {}
    for head, vals in zip(lines[::2], lines[1::2]):
        names, values = head.split()[1:], vals.split()[1:]
        if head.startswith("TcpExt:"):
            out.update(zip(names, map(int, values)))
    return out


def spread(values) -> str:
    """'median 0.97, worst 0.91' of a list of ratios (higher is better)."""
    return f"median {statistics.median(values):.2f}, worst {min(values):.2f}"


def figures(values, fmt="{:.2f}") -> str:
    return "[" + ", ".join(fmt.format(v) for v in values) + "]"
