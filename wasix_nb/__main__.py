"""Command line: `python -m wasix_nb run FILE.wat|FILE.wasm [options] [-- ARGS...]`.

The program's stdout and stderr pass through unchanged; the exit status is the program's exit code
(124 timeout, 130 interrupt, 134 trap, 137 killed).  `--trace` writes strace-style lines to stderr,
`-o FILE` to FILE (as strace does); `trace FILE.jsonl` prints a saved trace again.
"""

import argparse
import os
import sys


def _parser():
    p = argparse.ArgumentParser(prog="python -m wasix_nb", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a .wat or .wasm program")
    r.add_argument("file", help="program (.wat or .wasm); its arguments go after --")
    r.add_argument("--trace", action="store_true", help="print the strace-style trace to stderr")
    r.add_argument("-o", "--output", metavar="FILE", help="write the trace to FILE instead (implies --trace)")
    r.add_argument("-s", "--strsize", type=int, metavar="N", help="bytes of each string the trace shows (default 32)")
    r.add_argument("--summary", action="store_true", help="print a per-syscall summary to stderr")
    r.add_argument("--save-trace", metavar="FILE", help="write the trace as JSON lines")
    r.add_argument("--env", action="append", default=[], metavar="K=V")
    r.add_argument("--timeout", type=float)
    r.add_argument("--fuel", type=int)
    r.add_argument("--fd-limit", type=int, default=1024)
    r.add_argument("--memory-limit", metavar="BYTES", help="all memories and tables together (default 1G)")
    r.add_argument("--capture-limit", metavar="BYTES", help="stdout/stderr bytes kept per stream (default 16M)")
    r.add_argument("--inject", action="append", default=[], metavar="RULE")
    r.add_argument("--net", help="network policy: loopback (default), any, or an allow-list")
    r.add_argument(
        "--dir",
        action="append",
        default=[],
        metavar="HOST[::GUEST][:ro]",
        help="preopen a host directory (repeatable; fds 3, 4, ... in order)",
    )
    r.add_argument(
        "--map-command",
        action="append",
        default=[],
        metavar="NAME=PATH.wasm",
        help="a program proc_exec or proc_spawn may run by NAME (or /bin/NAME); repeatable",
    )
    r.add_argument("--max-procs", type=int, metavar="N", help="processes alive at once (default 64)")
    r.add_argument("--stub-missing", action="store_true")
    r.add_argument("--trace-limit", type=int, metavar="N", help="trace events kept (later calls only counted)")
    r.add_argument("--trace-bytes", metavar="BYTES", help="bytes the trace may hold (default 256M)")
    r.add_argument("--payload-limit", metavar="BYTES", help="bytes of each payload the trace keeps (default 4K)")
    r.add_argument("--entry", default="_start")
    t = sub.add_parser("trace", help="print a trace saved with --save-trace")
    t.add_argument("file")
    t.add_argument("--summary", action="store_true")
    t.add_argument("-s", "--strsize", type=int, metavar="N", help="bytes of each string shown (default 32)")
    return p


def _out(stream):
    def write(data):
        stream.write(data)
        stream.flush()

    return write


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, prog_args = argv[:i], argv[i + 1 :]
    opts = _parser().parse_args(argv)
    if opts.cmd == "trace":
        from .views.text import print_trace

        return print_trace(opts.file, summary=opts.summary, strsize=opts.strsize)

    from .errors import WasixError
    from .runtime import Process

    try:
        env = dict(kv.split("=", 1) for kv in opts.env)
        commands = dict(kv.split("=", 1) for kv in opts.map_command) or None
    except ValueError:
        print("wasix_nb: --env and --map-command want K=V", file=sys.stderr)
        return 2
    kwargs = dict(
        args=prog_args,
        env=env,
        stdin=sys.stdin.buffer,
        stdout=_out(sys.stdout.buffer),
        stderr=_out(sys.stderr.buffer),
        timeout=opts.timeout,
        fuel=opts.fuel,
        fd_limit=opts.fd_limit,
        inject=opts.inject,
        stub_missing=opts.stub_missing,
        entry=opts.entry,
        argv0=os.path.basename(opts.file),
        trace_limit=opts.trace_limit,
        memory_limit=opts.memory_limit,
        capture_limit=opts.capture_limit,
        dirs=opts.dir or None,
        commands=commands,
        max_procs=opts.max_procs,
        strsize=opts.strsize,
        trace_bytes=opts.trace_bytes,
        payload_limit=opts.payload_limit,
    )
    if opts.net:
        kwargs["net"] = opts.net
    try:
        proc = Process(opts.file, **kwargs)
    except (WasixError, ValueError, OSError) as e:
        print(f"wasix_nb: {e}", file=sys.stderr)
        return 2
    result = proc.run()
    if opts.trace or opts.output:
        text = result.log.text() + "\n"
        if opts.output:
            with open(opts.output, "w", encoding="utf-8") as fp:
                fp.write(text)
        else:
            sys.stderr.write(text)
    if opts.summary:
        sys.stderr.write(result.log.summary_text() + "\n")
    if opts.save_trace:
        with open(opts.save_trace, "w") as fp:
            result.log.to_jsonl(fp)
    if result.outcome not in ("returned", "exited"):
        print(f"wasix_nb: {result.message}", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
