"""The real WASIX binaries of ../shared/realwasix (built by Wasmer for its own tests) as test cases.

    from realwasix import cases, run_case, check
    @pytest.mark.parametrize("case", cases("threads"), ids=lambda c: c["name"])
    def test_threads(case, tmp_path):
        check(case, run_case(case, tmp_path))

The folder comes from $WASIX_NB_REALWASIX, else `../shared/realwasix` beside the repository (where CI has
it); without it the tests skip with the reason (and fail in CI's strict mode).  Nothing is copied: the
binaries are read where they are.
"""

import json
import os
from collections import Counter

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def folder():
    env = os.environ.get("WASIX_NB_REALWASIX")
    path = env or os.path.join(_ROOT, "..", "shared", "realwasix")
    return os.path.abspath(path) if os.path.isfile(os.path.join(path, "manifest.json")) else None


def cases(group=None):
    """Manifest entries (all, or one group's); a single placeholder that skips when the folder is absent."""
    where = folder()
    if where is None:
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(
                    reason="real WASIX binaries not found: set $WASIX_NB_REALWASIX or put them in ../shared/realwasix"
                ),
            )
        ]
    with open(os.path.join(where, "manifest.json")) as fp:
        entries = json.load(fp)
    return [c for c in entries if group is None or c["group"] == group]


def path_of(case) -> str:
    return os.path.join(folder(), case["file"])


def make_dirs(case, tmp_path):
    """The preopened root a case asks for (README: scratch-root is empty, tree-root holds sub/leaf.txt)."""
    kind = case.get("dirs")
    if not kind:
        return None
    root = tmp_path / kind
    root.mkdir()
    if kind == "tree-root":
        (root / "sub").mkdir()
        (root / "sub" / "leaf.txt").write_text("leaf\n")
    return [f"{root}::/"]


def run_case(case, tmp_path=None, timeout=60, **options):
    """Run one manifest case to its end with wasix_nb.run (argv[0] is the file's name)."""
    import wasix_nb

    dirs = make_dirs(case, tmp_path) if tmp_path is not None else None
    if dirs:
        options["dirs"] = dirs
    return wasix_nb.run(
        path_of(case),
        args=case["args"],
        env=case["env"] or None,
        stdin=case["stdin"].encode(),
        timeout=timeout,
        argv0=case["file"],
        **options,
    )


def _lines(b: bytes):
    return Counter(b.decode("utf-8", "replace").splitlines())


def check(case, result):
    """Assert that `result` matches the case's reference output under its `match` rule."""
    exp, match = case["expect"], case["match"]
    out, err = result.stdout, result.stderr
    why = f"{case['name']}: {result.outcome} ({result.message})\nstdout={out[:2000]!r}\nstderr={err[:2000]!r}"
    if match == "panic":
        assert out == b"", why
        assert exp["stderr"].splitlines()[1].encode() in err, why
        assert result.returncode != 0, why
        return
    assert result.returncode == exp["exit"], why
    if match == "exact":
        assert (out, err) == (exp["stdout"].encode(), exp["stderr"].encode()), why
    elif match == "lines-unordered":
        assert err == exp["stderr"].encode(), why
        assert _lines(out) == _lines(exp["stdout"].encode()), why
    elif match == "stdout-exact-stderr-unordered":
        assert out == exp["stdout"].encode(), why
        assert _lines(err) == _lines(exp["stderr"].encode()), why
    else:
        raise AssertionError(f"{case['name']}: match rule {match!r} is not a run-to-the-end case")
