#!/usr/bin/env bash
# Proves that the project configures (and, with --build, builds and runs) without the CUDA
# toolkit: every PATH entry holding nvcc is dropped and the CUDA variables are unset, then a
# fresh build folder is configured and checked for any reference to CUDA or nvcc.
#   scripts/check-no-nvcc.sh [--build] [--dpowb PATH] [BUILD_DIR]
#     BUILD_DIR   default: build-nocuda/ in the checkout, removed afterwards
#     --build     also build dpowb there (a full build of the core unless ccache holds it) and run it
#     --dpowb P   run an existing dpowb (e.g. build/dpowb) with nvcc hidden and --device auto
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="" do_build=0 dpowb=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) do_build=1 ;;
    --dpowb) dpowb="$2"; shift ;;
    *) build="$1" ;;
  esac
  shift
done
if [ -z "$build" ]; then
  build="$here/build-nocuda"
  rm -rf "$build"
  trap 'rm -rf "$build"' EXIT
fi

newpath=""
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -n "$d" ] && [ -x "$d/nvcc" ] && { echo "check-no-nvcc: hiding $d (holds nvcc)" >&2; continue; }
  newpath="${newpath:+$newpath:}$d"
done
export PATH="$newpath"
unset CUDA_HOME CUDA_PATH CUDACXX CUDA_TOOLKIT_ROOT_DIR CUDA_BIN_PATH CUDNN_ROOT
export LIBRARY_PATH="" LD_LIBRARY_PATH=""
if command -v nvcc >/dev/null; then
  echo "check-no-nvcc: nvcc is still found at $(command -v nvcc)" >&2
  exit 1
fi
echo "check-no-nvcc: nvcc hidden; configuring $build" >&2

export CCACHE_BASEDIR="$here"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPOWB_TESTS=OFF -DDPOWB_BENCH=OFF >&2
if grep -iE '(^|[^a-z])nvcc|CMAKE_CUDA|CUDAToolkit|CUDA_TOOLKIT' "$build/CMakeCache.txt" >&2; then
  echo "check-no-nvcc: the configuration refers to CUDA/nvcc (lines above)" >&2
  exit 1
fi
echo "check-no-nvcc: configured without nvcc; no CUDA toolkit in the cache" >&2

run() {
  local out
  out=$(printf '%s\n' '{"prompt": "The film was", "chosen": " good", "rejected": " bad"}' |
        "$1" score --model builtin:tiny --data - --device auto)
  echo "$out" | grep -q '"chosen_logp"' || { echo "check-no-nvcc: $1 score printed: $out" >&2; exit 1; }
  echo "check-no-nvcc: $1 ran with nvcc hidden and --device auto: $out" >&2
}
if [ "$do_build" = 1 ]; then
  cmake --build "$build" --target dpowb -- -j"${DPOWB_JOBS:-1}" >&2
  run "$build/dpowb"
fi
[ -n "$dpowb" ] && run "$dpowb"
exit 0
