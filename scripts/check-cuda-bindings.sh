#!/usr/bin/env bash
# Type-checks the LibTorch CUDA code (kernels/*_cuda.cpp, compiled only with SSMLAB_WITH_CUDA, i.e. only on
# the GPU machine, and the SSMLAB_WITH_CUDA branches of models/ and bench/) on a CPU machine, against
# Debian's LibTorch headers, which include c10/cuda, and the CUDA toolkit's headers: g++ -fsyntax-only,
# nothing is linked or run. A typo in a binding then fails here instead of costing a GPU call. The .cu
# kernels themselves are compiled by every build where nvcc exists.
#   scripts/check-cuda-bindings.sh [FILE.cpp ...]   (default: kernels/*_cuda.cpp and every source of models/, bench/
#                                                    with an SSMLAB_WITH_CUDA branch)
# Exit 0 when every file checks, 1 when one does not, 2 when the headers are missing.
set -uo pipefail
cd "$(dirname "$0")/.."
cuda=${CUDA_HOME:-/usr/local/cuda}
torch_inc=${TORCH_INCLUDE:-/usr/include}
[ -f "$cuda/include/cuda_runtime_api.h" ] || { echo "check-cuda-bindings: no CUDA headers in $cuda/include (CUDA_HOME)" >&2; exit 2; }
[ -f "$torch_inc/c10/cuda/CUDAGuard.h" ] || { echo "check-cuda-bindings: no c10/cuda headers in $torch_inc (TORCH_INCLUDE)" >&2; exit 2; }
# Debian's package leaves out the configure-time header c10/cuda's macros include: a stand-in for it.
standin=$(mktemp -d); trap 'rm -rf "$standin"' EXIT
mkdir -p "$standin/c10/cuda/impl"
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$standin/c10/cuda/impl/cuda_cmake_macros.h"
case ${1:-} in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(kernels/*_cuda.cpp $(grep -l "ifdef SSMLAB_WITH_CUDA" models/*.cpp bench/*.cpp))
extra=(); [ "$torch_inc" = /usr/include ] || extra=(-isystem "$torch_inc")  # /usr/include is searched anyway
rc=0
for f in "${files[@]}"; do
  if g++ -std=c++17 -fsyntax-only -D_GLIBCXX_USE_CXX11_ABI=1 -DSSMLAB_WITH_CUDA=1 -I. -Icommon/include -isystem "$torch_inc/torch/csrc/api/include" \
       "${extra[@]}" -isystem "$cuda/include" -isystem "$standin" "$f"; then
    echo "check-cuda-bindings: $f ok"
  else
    echo "check-cuda-bindings: $f FAILED" >&2; rc=1
  fi
done
exit $rc
