#!/usr/bin/env bash
# Emulate a Binder (repo2docker) build without Docker, then run the tutorial notebooks in it:
#   fresh venv -> pip install -r binder/requirements.txt (from the repo root, as repo2docker does)
#   -> bash binder/postBuild -> execute every notebook with a real kernel (tests/test_notebooks.py).
# The notebooks contain no %load_ext: they pass only if postBuild preloaded the extension.
# apt.txt is not installed here (.ci/run installs clang itself); notebook 6 copes without clang.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
unset PYTHONPATH NB_PYTHON_PREFIX IPYTHONDIR VIRTUAL_ENV || true
export VIRTUAL_ENV="$work/venv"
cd "$repo"
python -m pip install -q --upgrade pip
python -m pip install -q -r binder/requirements.txt
# what a Binder kernel environment has besides this file (ipykernel), and what the test needs to drive it
python -m pip install -q ipykernel nbclient nbformat pytest pytest-timeout
bash binder/postBuild
bash binder/postBuild           # idempotent: a second run must not add a second line
conf="$work/venv/etc/ipython/ipython_kernel_config.py"
if [ "$(grep -c 'extensions' "$conf")" != 1 ]; then
  echo "binder_emulation: postBuild is not idempotent:"; cat "$conf"; exit 1
fi
# rely on postBuild's kernel config alone (the test then writes no profile of its own)
export WASIX_NB_BINDER=1
python -m pytest -q -p no:cacheprovider tests/test_notebooks.py
