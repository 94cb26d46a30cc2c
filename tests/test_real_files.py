"""The `fs` group of the real WASIX binaries (../shared/realwasix): preopened `/`, path calls, /dev/stdin."""

import pytest

from realwasix import cases, check, run_case


@pytest.mark.parametrize("case", cases("fs"), ids=lambda c: c["name"] if c else "absent")
def test_fs_case(case, tmp_path):
    r = run_case(case, tmp_path)
    check(case, r)


def test_fs_rename_leaves_its_files_in_the_preopen(tmp_path):
    case = next(c for c in cases("fs") if c["name"] == "fs-rename")
    r = run_case(case, tmp_path)
    check(case, r)
    root = tmp_path / "scratch-root"
    assert sorted(p.name for p in (root / "test-dir").iterdir()) == ["b", "d"]
    assert (root / "test-dir" / "b").read_text() == "a"
    rows = {row["fd"]: row for row in r.fd_rows}
    assert rows[3]["kind"] == "dir" and rows[3]["local"] == "/" and rows[3]["peer"] == str(root)
    opened = [h for h in r.history_rows if h["kind"] == "file"]
    assert opened and all(h["local"].startswith("/test-dir/") for h in opened)
    assert any(h["bytes_in"] == 1 for h in opened)
