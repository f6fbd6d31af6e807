#!/usr/bin/env bash
# Configures and builds DPO Workbench into build/ (Ninja, ccache). Extra arguments go to CMake.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DPOWB_BUILD_DIR:-$here/build}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif [ $# -gt 0 ]; then
  cmake "$build" "$@"
fi
cmake --build "$build" -- -j"${DPOWB_JOBS:-$(nproc)}"
