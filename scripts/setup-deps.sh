#!/usr/bin/env bash
# Installs every system package ssmlab needs (Debian 12), quietly and idempotently.
# Used by reproduce.sh and test.sh; safe to run again (does nothing when all are present).
set -euo pipefail
PKGS=(build-essential cmake git pkg-config
      libeigen3-dev libboost-program-options-dev libboost-iostreams-dev libboost-filesystem-dev
      nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
      libtorch-dev gnuplot-nox libgnuplot-iostream-dev
      libopenblas0-openmp libicu-dev libzip-dev zlib1g-dev libyaml-cpp-dev python3-venv libgloo-dev)
# libopenblas0-openmp: Debian's LibTorch calls sgemm through libblas.so.3, which is the unoptimised
# reference BLAS unless an optimised one is installed (training was 76 % in reference sgemm_).
# The OpenMP build shares libgomp with LibTorch, so --threads governs both.
# libicu-dev: Unicode properties, normalization and case mapping for hf::Tokenizer.
# libzip-dev: the zip archive of pytorch_model.bin (hf/src/torch_bin.cpp).
# zlib1g-dev: CRC-32 of ssmlab's training checkpoints (models/trainer.cpp).
# libyaml-cpp-dev: --config FILE.yaml (common/src/yaml.cpp; optional at build time).
# libgloo-dev: gloo's headers, which LibTorch's c10d ProcessGroupGloo.hpp includes (data-parallel
# training on the CPU, models/distributed.cpp; the library itself, libgloo0, comes with libtorch).
# python3-venv: scripts/py-venv.sh (Hugging Face tokenizers for the differential tokenizer tests).
# clang libclang-rt-dev llvm: scripts/fuzz.sh (libFuzzer, ASan and UBSan runtimes of Debian's clang 14;
# llvm-symbolizer for readable sanitizer reports); test.sh replays the committed fuzz corpora with them.
PKGS+=(clang libclang-rt-dev llvm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[setup] all ${#PKGS[@]} system packages present"
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "[setup] installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "[setup] done"
