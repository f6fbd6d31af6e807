#!/usr/bin/env bash
# Install what is needed, build, and run every test through CTest: the full build (build/),
# then the build a GPU server uses, without the GUI (build-nogui/: core, CLI and every suite
# that needs no GUI). The second build gets its objects from the first through ccache.
# DPOWB_TEST_NOGUI=0 skips it. Extra arguments go to both ctest runs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/install-deps.sh"
"$here/scripts/fetch-references.sh" || echo "test.sh: reference fixtures not fetched; tests that need them skip" >&2
# Debug info names the build folder; leaving it out of ccache's key lets build-nogui/ reuse
# the objects of build/.
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
jobs="${DPOWB_TEST_JOBS:-2}"
# Benchmarks are built by scripts/build.sh (DPOWB_BENCH=ON); the test run does not need them.
build="${DPOWB_BUILD_DIR:-$here/build}"
DPOWB_BUILD_DIR="$build" "$here/scripts/build.sh" -DDPOWB_BENCH=OFF
(cd "$build" && ctest --output-on-failure -j"$jobs" "$@")
if [ "${DPOWB_TEST_NOGUI:-1}" != 0 ]; then
  nogui="${DPOWB_NOGUI_BUILD_DIR:-$here/build-nogui}"
  echo "test.sh: the build without the GUI, in $nogui" >&2
  DPOWB_BUILD_DIR="$nogui" "$here/scripts/build.sh" -DDPOWB_GUI=OFF -DDPOWB_BENCH=OFF
  (cd "$nogui" && ctest --output-on-failure -j"$jobs" "$@")
fi
