#!/usr/bin/env bash
# Install what is needed, build, and run every test through CTest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/install-deps.sh"
"$here/scripts/fetch-references.sh" || echo "test.sh: reference fixtures not fetched; tests that need them skip" >&2
# Benchmarks are built by scripts/build.sh (DPOWB_BENCH=ON); the test run does not need them.
"$here/scripts/build.sh" -DDPOWB_BENCH=OFF
cd "${DPOWB_BUILD_DIR:-$here/build}"
ctest --output-on-failure -j"${DPOWB_TEST_JOBS:-2}" "$@"
