"""The host-call fuzz test (tests/fuzz_host.py): every registered host function, random and boundary
arguments, exported and shared memory, seeded and reproducible.

CI runs WASIX_NB_FUZZ_CALLS (default 1500) calls per memory kind with WASIX_NB_FUZZ_SEED (default 1);
set them higher for a longer run, e.g. `WASIX_NB_FUZZ_CALLS=200000 pytest tests/test_fuzz.py -s`.
The fuzz runs in a child process, so its peak RSS (os.wait4's rusage, as RUSAGE_CHILDREN reports it) is
bounded against the child's own peak before fuzzing started.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
GROWTH_MIB = 96  # peak RSS the fuzzing may add (a few RW_MAX-sized buffers, traces, processes)


def test_fuzz_every_host_function():
    calls = int(os.environ.get("WASIX_NB_FUZZ_CALLS", "1500"))
    seed = int(os.environ.get("WASIX_NB_FUZZ_SEED", "1"))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(
            [
                sys.executable,
                os.path.join(HERE, "fuzz_host.py"),
                "--calls",
                str(calls),
                "--seed",
                str(seed),
                "--memory",
                "both",
            ],
            stdout=out,
            stderr=err,
        )
        guard = threading.Timer(max(600, calls / 20), p.kill)  # a hang guard, not a timing assertion
        guard.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            guard.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    assert text.strip(), errors[-3000:]
    reports = json.loads(text.strip().splitlines()[-1])
    peak = usage.ru_maxrss // 1024
    for r in reports:
        print(
            f"\nfuzz {r['memory']} memory: {r['calls']} calls over {r['functions']} host functions, seed "
            f"{r['seed']}, {r['processes']} processes, {r['watchdog_cancels']} watchdog cancels, "
            f"{r['seconds']} s; errnos {r['errnos']}"
        )
    print(f"fuzz peak RSS {peak} MiB (before fuzzing {reports[0]['rss_before_mib']} MiB)")
    failures = [f for r in reports for f in r["failures"]]
    assert not failures, "\n".join(failures)
    assert p.returncode == 0, errors[-3000:]
    assert all(r["functions"] >= 150 for r in reports)  # the whole registry, not a subset
    assert peak - reports[0]["rss_before_mib"] < GROWTH_MIB
