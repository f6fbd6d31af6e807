#!/usr/bin/env bash
# Start-up time of the command-line programs: `dpowb` (no LibTorch) for the commands that need
# no tensors, against the same command with LibTorch preloaded (what every command cost when
# dpowb linked it) and against dpowb-torch. Prints the mean wall time per run.
# usage: bench/cli_startup.sh [BUILD_DIR] [RUNS]
set -euo pipefail
build="${1:-build}"
runs="${2:-50}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
db="$work/demo.db"
"$build/dpowb" init "$db" --demo 2>/dev/null

mean_ms() {  # mean wall time of RUNS runs of the command, in milliseconds
  local n=$1; shift
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  awk -v t=$((end - start)) -v n="$n" 'BEGIN { printf "%.1f", t / n / 1e6 }'
}

torch_libs="$(ldd "$build/dpowb-torch" | awk '/libtorch|libc10/ { print $3 }' | paste -sd: -)"
printf '%-34s %10s %22s\n' command "dpowb ms" "with LibTorch ms"
for cmd in "--help" "stats $db" "list $db --limit 5" "label $db 7 a" "runs $db" "train --help"; do
  # shellcheck disable=SC2086
  light=$(mean_ms "$runs" "$build/dpowb" $cmd)
  # shellcheck disable=SC2086
  heavy=$(mean_ms $((runs / 5 > 0 ? runs / 5 : 1)) env LD_PRELOAD="$torch_libs" "$build/dpowb" $cmd)
  printf '%-34s %10s %22s\n' "${cmd/$db/DB}" "$light" "$heavy"
done
printf '%-34s %10s\n' "dpowb-torch --help" "$(mean_ms $((runs / 5 > 0 ? runs / 5 : 1)) "$build/dpowb-torch" --help)"
