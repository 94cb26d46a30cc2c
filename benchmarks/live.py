"""Throughput of a 100,000-call program with the live panel on (widgets on a dummy comm) and off.

    python benchmarks/live.py [calls] [rounds]

Prints `live_panel_throughput_ratio X (on N calls/s, off M calls/s)`; the panel costs nothing on the
syscall path (a timer thread polls), so the target is X >= 0.9.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from programs import clock_loop  # noqa: E402
from wasix_nb.process import Process  # noqa: E402
from wasix_nb.views.display import show  # noqa: E402


MESSAGES = []


def once(wat, live):
    p = Process(wat)
    panel = show(p, live=True) if live else None
    t0 = time.perf_counter()
    p.run()
    dt = time.perf_counter() - t0
    if panel is not None:
        panel.finish()
        MESSAGES.append(panel.messages)
    return len(p.host.trace) / dt


def main():
    args = [a for a in sys.argv[1:] if a != "--quick"]
    quick = "--quick" in sys.argv
    n = int(args[0]) if args else 100_000
    rounds = int(args[1]) if len(args) > 1 else (3 if quick else 5)
    wat = clock_loop(n)
    once(wat, False)  # compile and warm up
    on, off = [], []
    for _ in range(rounds):  # interleaved, best of each: less noise from the machine
        off.append(once(wat, False))
        on.append(once(wat, True))
    ratio = max(on) / max(off)
    print(f"live_panel_throughput_ratio {ratio:.3f} (on {max(on):,.0f} calls/s, off {max(off):,.0f} calls/s)")
    print(f"  panel messages per run: {MESSAGES}")


if __name__ == "__main__":
    main()
