"""Cold and warm start of `python -m wasix_nb run BIG.wasm` (first run: compile; later: disk cache),
vs the same with wasmer-sdk when installed (its own compiled-artifact cache), and the CLI's import time.

    python benchmarks/startup.py [--runs 5] [--quick]

Cold = a fresh, empty cache directory; warm = the same directory again.  Wall time of the whole
process, as a user waits for it (Python start-up included).  "start" runs the CLI with `--entry` naming
an export no program has: import, compile or load from the cache, link, and stop where the program
would begin; "whole run" also runs the program (as wasmer-sdk does).  The binaries are the largest real ones:
example-tokio.wasm (1.3 MB, about 4 MB of machine code) and envvar.wasm (1.8 MB); `--stub-missing` so
that they start whatever the host does not provide yet (the start-up, not the run, is measured).
Prints, per binary, `cold`, `warm` (medians; wall and CPU seconds: on a busy machine the wall time
mostly measures the queue for a CPU), `warm/cold` and, with wasmer-sdk, `wasix/wasmer`; then
`cli_import_cpu_s` (python -c "import wasix_nb.__main__, wasix_nb.process" less bare python) and
whether pandas was imported by a CLI run (it must not be).
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import ROOT  # noqa: E402

BINARIES = ["example-tokio.wasm", "envvar.wasm"]


def realwasix():
    d = os.environ.get("WASIX_NB_REALWASIX") or os.path.join(ROOT, "..", "shared", "realwasix")
    return d if os.path.isdir(d) else None


def have_wasmer() -> bool:
    try:
        import wasmer_sdk  # noqa: F401

        return True
    except ImportError:
        return False


def wasmer_run(path, cache):
    """Run a raw wasm module with wasmer-sdk (the `--wasmer-run` child)."""
    import asyncio
    from pathlib import Path

    from wasmer_sdk import Wasmer

    async def main():
        async with Wasmer(cache_root=cache) as w:
            pkg = await w.packages.load(Path(path).read_bytes())
            async with await w.sandboxes.create(packages=[pkg]) as sb:
                out = await sb.command(pkg, []).run(check=False, timeout=30)
                return out

    asyncio.run(main())


def timed(argv, env, cpu=False):
    """Wall seconds of a child process (and its CPU seconds, user + system, when `cpu`)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) if cpu else wall


PROBE = "wasix_nb_start_probe"  # an export no program has: the CLI links, then stops at the entry


def wasix_argv(path, start_only=True):
    extra = ["--entry", PROBE] if start_only else []
    return [sys.executable, "-m", "wasix_nb", "run", "--stub-missing", "--timeout", "30", *extra, path]


def starts(runtime, path, runs):
    """((cold wall, cpu), [(warm wall, cpu)]); runtime "wasix" (start only), "wasix-run", "wasmer" (runs)"""
    base = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base.pop("WASIX_NB_CACHE", None)
    d = tempfile.mkdtemp(prefix="wxnb-start-")
    try:
        if runtime.startswith("wasix"):
            env, argv = dict(base, WASIX_NB_CACHE_DIR=d), wasix_argv(path, runtime == "wasix")
        else:
            env, argv = base, [sys.executable, __file__, "--wasmer-run", path, d]
        cold = timed(argv, env, cpu=True)
        return cold, [timed(argv, env, cpu=True) for _ in range(runs)]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def cli_import():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    bare = min(timed([sys.executable, "-c", "pass"], env, cpu=True)[1] for _ in range(5))
    cli = min(
        timed([sys.executable, "-c", "import wasix_nb.__main__, wasix_nb.process"], env, cpu=True)[1] for _ in range(5)
    )
    return bare, cli


def pandas_loaded(path) -> bool:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *wasix_argv(path)[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    ).stderr
    return any(line.rstrip().endswith(("| pandas", "| numpy", "| IPython")) for line in out.splitlines())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--wasmer-run"]:
        return wasmer_run(argv[1], argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="warm runs per binary (the cold one is extra)")
    ap.add_argument("--quick", action="store_true", help="one binary, two warm runs (CI)")
    a = ap.parse_args(argv)
    binaries = BINARIES[:1] if a.quick else BINARIES
    if a.quick:
        a.runs = 2
    d = realwasix()
    if d is None:
        print("startup: skipped (no real WASIX binaries: set WASIX_NB_REALWASIX)")
        return
    runtimes = ["wasix"] + (["wasmer"] if have_wasmer() else [])
    if len(runtimes) == 1:
        print("startup: wasmer-sdk is not installed (pip install 'wasix_nb[compare]'): wasix_nb only")
    med = statistics.median
    for b in binaries:
        path = os.path.join(d, b)
        got = {r: starts(r, path, a.runs) for r in ["wasix", "wasix-run"] + runtimes[1:]}
        (cold, cold_cpu), warms = got["wasix"]
        warm, warm_cpu = med(w for w, _ in warms), med(c for _, c in warms)
        print(
            f"{b}: wasix_nb start (to the entry) cold {cold:.2f} s (cpu {cold_cpu:.2f}), warm {warm:.3f} s "
            f"(cpu {warm_cpu:.3f}; {', '.join(f'{w:.3f}' for w, _ in warms)}), warm/cold {warm / cold:.2f}"
        )
        (rcold, rcold_cpu), rwarms = got["wasix-run"]
        rwarm, rwarm_cpu = med(w for w, _ in rwarms), med(c for _, c in rwarms)
        line = f"{b}: whole run: wasix_nb cold {rcold:.2f} s (cpu {rcold_cpu:.2f}), warm {rwarm:.3f} s (cpu {rwarm_cpu:.3f})"
        if "wasmer" in got:
            (wc, wc_cpu), wwarms = got["wasmer"]
            ww, ww_cpu = med(w for w, _ in wwarms), med(c for _, c in wwarms)
            line += (
                f"; wasmer-sdk cold {wc:.2f} s (cpu {wc_cpu:.2f}), warm {ww:.3f} s (cpu {ww_cpu:.3f}); "
                f"wasix/wasmer cold {rcold / wc:.2f}, warm {rwarm / ww:.2f} (cpu {rwarm_cpu / ww_cpu:.2f}; "
                f"lower is better)"
            )
        print(line)
    bare, cli = cli_import()
    print(
        f"cli_import_cpu_s {cli - bare:.3f} (CPU of python -c 'import wasix_nb.__main__, wasix_nb.process' "
        f"{cli:.3f} s less bare python {bare:.3f} s; best of 5)"
    )
    print(f"cli_run_imports_pandas {pandas_loaded(os.path.join(d, binaries[0]))}")


if __name__ == "__main__":
    main()
