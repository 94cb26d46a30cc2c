"""Peak memory of a program run in a child process, for the memory-bound tests.

`peak_rss(wat, **options)` runs `wasix_nb.Process(wat, **options).run()` in a fresh Python child and
returns (peak RSS in MiB, what the child printed).  The figure is the child's `ru_maxrss` as its parent
sees it (`os.wait4`'s rusage: the same number `resource.getrusage(RUSAGE_CHILDREN)` reports for a lone
child), so nothing else this test process ran is counted.  Tests compare a reproducer with a small
control program run the same way, never with an absolute figure.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading

_CHILD = r"""
import json, sys
import wasix_nb
wat, options = json.loads(sys.stdin.read())
proc = wasix_nb.Process(wat, **options)
r = proc.run()
print(json.dumps({"outcome": r.outcome, "exit_code": r.exit_code, "stdout": len(r.stdout),
                  "calls": len(r.log), "history": len(r.history_rows), "message": r.message}))
"""


def peak_rss(wat: str, timeout: float = 300, limit_mib: int = 8192, **options):
    """(peak RSS in MiB, the child's report as a dict). The child's address space is capped at
    `limit_mib` so a regression fails the test instead of the machine."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:

        def cap():
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limit_mib << 20, limit_mib << 20))

        p = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            preexec_fn=cap,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        p.stdin.write(json.dumps([wat, options]).encode())
        p.stdin.close()
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)  # this child's own rusage
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        report = json.loads(text.strip().splitlines()[-1]) if text.strip() else {"error": err.read().decode()[-2000:]}
    return usage.ru_maxrss / 1024, report
