#!/usr/bin/env bash
# Makes the Python venv the differential tokenizer tests use: ${BUILD_DIR:-build}/pyenv with
# Hugging Face `tokenizers` and `safetensors` from PyPI (two small wheels, no torch). Idempotent:
# does nothing when the venv already has the pinned versions. Exit status non-zero when the venv
# cannot be made (no python3-venv, no PyPI); the tests that need it are then skipped, with the reason.
#
#   ./scripts/py-venv.sh            # PYTHON=python3.11 ./scripts/py-venv.sh to choose the interpreter
#
# `tokenizers` is installed without its one dependency, huggingface_hub, which only serves
# Tokenizer.from_pretrained (downloads); the tests never call it. Bump the pins deliberately: the
# tests compare ssmlab's ids with this exact version's.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BUILD_DIR:-build}/pyenv"
PY=${PYTHON:-python3}
PINS=(tokenizers==0.23.3 safetensors==0.8.0)
stamp="$VENV/.ssmlab-pins"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${PINS[*]}" ] &&
   "$VENV/bin/python" -c "import tokenizers, safetensors" 2>/dev/null; then
  echo "[py-venv] $VENV ready (${PINS[*]})"
  exit 0
fi
mkdir -p "$(dirname "$VENV")"
if ! "$PY" -m venv --clear "$VENV" >/dev/null 2>&1; then
  echo "[py-venv] error: '$PY -m venv' failed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${PINS[@]}"; then
  echo "[py-venv] error: pip could not install ${PINS[*]} (is PyPI reachable?)" >&2
  exit 1
fi
"$VENV/bin/python" -c "import tokenizers, safetensors"
echo "${PINS[*]}" > "$stamp"
echo "[py-venv] made $VENV (${PINS[*]})"
