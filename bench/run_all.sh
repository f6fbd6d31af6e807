#!/usr/bin/env bash
# Runs the training benchmarks of bench/README.md back to back, the C++ step and the eager
# PyTorch step alternating round by round so that both see the same machine, and prints one
# JSON line per run plus a summary (medians, C++/PyTorch ratios).
#
#   bash bench/run_all.sh [BUILD_DIR] [ROUNDS] [MODELS]   (needs -DDPOWB_BENCH=ON)
#   defaults: build, 3 rounds, "tiny 25m"; PY_ATTN=eager for the explicit attention in PyTorch
#   (default sdpa, as transformers does); OMP_NUM_THREADS applies to both programs
#
# The summary gives each C++/PyTorch ratio as the median over rounds of the ratio within a
# round (the two programs run back to back), which cancels the machine's slow phases better
# than a ratio of medians.
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
models=${3:-tiny 25m}
bench=$build/bench/bench_train
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/venv-path.sh"
py="$DPOWB_VENV/bin/python"  # the same torch wheel as the LibTorch bench_train links
[ -x "$bench" ] || { echo "run_all.sh: $bench not built; configure with -DDPOWB_BENCH=ON and run ninja -C $build bench_train" >&2; exit 2; }
$py -c 'import torch' 2>/dev/null || { echo "run_all.sh: $py has no torch: run scripts/install-deps.sh" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() {  # label command...
  local label=$1; shift
  local line
  line=$("$@" | tail -n 1)
  echo "$line"
  printf '%s\t%s\n' "$label" "$line" >>"$out"
}

"$bench" --peak
for m in $models; do
  steps=10
  [ "$m" = tiny ] || steps=4
  for r in $(seq "$rounds"); do
    run "$m c++"            "$bench" --model "$m" --steps $steps
    run "$m pytorch"        $py bench/dpo_step.py --model "$m" --attn "${PY_ATTN:-sdpa}" --steps $steps
    run "$m c++ lora"       "$bench" --model "$m" --lora-rank 8 --steps $steps
    run "$m pytorch lora"   $py bench/dpo_step.py --model "$m" --attn "${PY_ATTN:-sdpa}" --lora-rank 8 --steps $steps
    run "$m c++ precompute" "$bench" --model "$m" --precompute-ref --steps $steps
  done
done
"$bench" --peak

$py - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, js = line.rstrip("\n").split("\t", 1)
    rows.setdefault(label, []).append(json.loads(js))
print("\n| run | s/step (median) | tokens/s | share of matmul peak | peak RSS MB |")
print("| --- | --- | --- | --- | --- |")
med = {}
for label, rs in rows.items():
    s = statistics.median(r["seconds_per_step"] for r in rs)
    med[label] = s
    share = statistics.median(r["share_of_peak"] for r in rs) if "share_of_peak" in rs[0] else None
    rss = max(r["peak_rss_mb"] for r in rs)
    tps = rs[0]["tokens_per_step"] / s
    print(f"| {label} | {s:.3f} | {tps:,.0f} | {'' if share is None else f'{share:.0%}'} | {rss:.0f} |")
print()
def ratios(cpp, pt):
    a, b = rows.get(cpp, []), rows.get(pt, [])
    return [y["seconds_per_step"] / x["seconds_per_step"] for x, y in zip(a, b)]
for model in ("tiny", "25m"):
    for cpp, pt, what in ((f"{model} c++", f"{model} pytorch", "full fine-tuning, live reference"),
                          (f"{model} c++ lora", f"{model} pytorch lora", "LoRA r=8"),
                          (f"{model} c++ precompute", f"{model} pytorch", "C++ --precompute-ref vs PyTorch live reference")):
        r = ratios(cpp, pt)
        if r:
            print(f"{model}, {what}: C++ is {statistics.median(r):.2f}x the eager PyTorch step "
                  f"(median of {len(r)} rounds; per round {', '.join(f'{x:.2f}' for x in r)})")
PY
