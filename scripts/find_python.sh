#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or fail with a one-line hint.
# Order: $PYTHON; then 3.12, 3.13, 3.14 (PATH, pyenv, usual prefixes); then python3 / python.
set -u
ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
pyenv_root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
# 3.12 first (the tested version), then newer ones.
for minor in 12 13 14; do
  p=$(command -v "python3.$minor" 2>/dev/null) && candidates+=("$p")
  for p in $(ls -d "$pyenv_root"/versions/3.$minor*/bin/python3 2>/dev/null | sort -rV); do candidates+=("$p"); done
  for p in /usr/local/bin/python3.$minor /usr/bin/python3.$minor /opt/homebrew/bin/python3.$minor; do [ -x "$p" ] && candidates+=("$p"); done
done
for name in python3 python; do
  p=$(command -v "$name" 2>/dev/null) && candidates+=("$p")
done
for c in "${candidates[@]}"; do
  if ok "$c"; then "$c" -c 'import sys; print(sys.executable)'; exit 0; fi
done
echo "find_python: no Python >= 3.12 found (install one, e.g. 'pyenv install 3.12', or set PYTHON=/path/to/python3.12)" >&2
exit 1
