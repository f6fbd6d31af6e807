#!/usr/bin/env bash
# Configures and builds DPO Workbench into build/ (Ninja, ccache). Extra arguments go to CMake.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DPOWB_BUILD_DIR:-$here/build}"
# ccache: paths relative to the checkout and the build folder's own path left out of the hash
# (so another clone, such as CI's, reuses the cache: with -g ccache hashes the working directory
# unless told not to), and precompiled headers cacheable.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$here}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-15G}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif [ $# -gt 0 ]; then
  cmake "$build" "$@"
fi
cmake --build "$build" -- -j"${DPOWB_JOBS:-$(nproc)}"
