#!/bin/sh
# Venvs for the peer tools of bench/compare.py, in .tools/bench-venvs/ (git-ignored).
#   ansible: ansible-core 2.19 (the newest that installs on Python 3.11)
#   cdist:   cdist 7.0.0 from PyPI; it fails at start-up on Python >= 3.11
#            ("conflicting subparser: scan"), so its venv is made from Python 3.10
#            (pyenv's by default; set CDIST_PYTHON to another 3.10).
# Idempotent: an existing venv with the right version is kept.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
V="$ROOT/.tools/bench-venvs"
mkdir -p "$V"
PY311=${ANSIBLE_PYTHON:-$ROOT/.venv/bin/python}
PY310=${CDIST_PYTHON:-/root/.pyenv/versions/3.10.13/bin/python3.10}

if ! "$V/ansible/bin/ansible-playbook" --version 2>/dev/null | grep -q 'core 2\.19'; then
  rm -rf "$V/ansible"
  "$PY311" -m venv "$V/ansible"
  "$V/ansible/bin/pip" install -q 'ansible-core>=2.19,<2.20'
fi
if ! "$V/cdist/bin/cdist" --version 2>/dev/null | grep -q '7\.0\.0'; then
  rm -rf "$V/cdist"
  "$PY310" -m venv "$V/cdist"
  "$V/cdist/bin/pip" install -q 'cdist==7.0.0'
fi
"$V/ansible/bin/python" -c 'import ansible.release as r; print("ansible-core", r.__version__)'
"$V/cdist/bin/cdist" --version
