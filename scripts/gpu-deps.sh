#!/usr/bin/env bash
# Prepares .deps/ for a GPU-machine build: Boost.Program_options (../shared/gpu/prepare-deps.sh)
# plus the nlohmann/json header, which that machine's image lacks. Run from the project root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ../shared/gpu/prepare-deps.sh
mkdir -p .deps/include
cp -r /usr/include/nlohmann .deps/include/
echo "[gpu-deps] .deps ready: carry it and 'source .deps/env.sh' there"
