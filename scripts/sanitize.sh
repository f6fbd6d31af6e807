#!/usr/bin/env bash
# Builds the project with AddressSanitizer + UndefinedBehaviorSanitizer (-DDPOWB_SANITIZE=ON)
# into its own folder (build-sanitize/, or $DPOWB_SANITIZE_BUILD_DIR) and runs the whole CTest
# suite there. Extra arguments go to ctest (e.g. -R store/ to run a part).
#
# DPOWB_JOBS: compile jobs (default 1: LibTorch translation units take ~2 GB each under ASan).
# DPOWB_SANITIZE_BUILD_ONLY=1: build, do not test. DPOWB_SANITIZE_STAGES="1 2": only those stages.
#
# Sanitizer settings (see docs/FUZZING.md):
# - detect_leaks=0: LibTorch's operator registry, its thread pools and Qt's plugin loader keep
#   allocations reachable only through static state that is never torn down; LeakSanitizer
#   reports them at every exit of a torch or GUI test, which would hide real findings.
#   Leaks of our own code are checked by the fuzz targets (libFuzzer runs LeakSanitizer).
# - halt_on_error / abort_on_error: the first finding fails the test.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DPOWB_SANITIZE_BUILD_DIR:-$here/build-sanitize}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$here}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
start=$(date +%s)
# -O1 -g1: what ASan recommends, and about half the compile time of -O2 -g on the LibTorch
# translation units (the tensor work itself runs in LibTorch, which is not instrumented).
# The test suites and the UI library at -O0 (DPOWB_TEST_COMPILE_OPTIONS): half the compile CPU
# of -O1 under ASan (tst_project: 6.3 s against 12.1 s); they are most of the translation units.
# The suites of model/ and train/ share one precompiled header (tests/CMakeLists.txt).
# No NCCL plugin (DPOWB_NCCL=OFF): it runs only on CUDA machines, where this build is not used.
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DDPOWB_SANITIZE=ON -DDPOWB_BENCH=OFF -DDPOWB_NCCL=OFF -DDPOWB_TEST_COMPILE_OPTIONS=-O0
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
status=0
# Three stages, so that a short session still gets a result: the suites that need no LibTorch
# (common, store, text), then the CLI's (which run dpowb-torch) and the smoke checks, then the rest.
suites() {  # suites DIR...: the suite targets of those test folders
  for dir in "$@"; do
    for suite in "$here"/tests/"$dir"/tst_*.cpp; do
      [ -f "$suite" ] && echo "${dir}_$(basename "$suite" .cpp)"
    done
  done
}
for stage in ${DPOWB_SANITIZE_STAGES:-1 2 3}; do
  case $stage in
    1) targets=($(suites common store text)); labels=(-L '^(common|store|text)$') ;;
    2) targets=(dpowb dpowb-torch $(suites cli)); labels=(-L '^(cli|smoke)$') ;;
    3) targets=($(suites model train ui)); labels=(-LE '^(common|store|text|cli|smoke)$') ;;
  esac
  cmake --build "$build" --target "${targets[@]}" -- -j"${DPOWB_JOBS:-1}" || { status=1; break; }
  echo "sanitize.sh: stage $stage built at $(( $(date +%s) - start )) s" >&2
  [ "${DPOWB_SANITIZE_BUILD_ONLY:-0}" = 1 ] && continue
  tstart=$(date +%s)
  (cd "$build" && ctest --output-on-failure -j"${DPOWB_TEST_JOBS:-1}" "${labels[@]}" "$@") || status=1
  echo "sanitize.sh: stage $stage tests ran in $(( $(date +%s) - tstart )) s (status so far $status)" >&2
done
exit $status
