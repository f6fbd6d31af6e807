#!/usr/bin/env bash
# Runs the training benchmarks of bench/README.md back to back, the C++ step and the eager
# PyTorch step alternating round by round so that both see the same machine, and prints one
# JSON line per run plus a summary (medians, C++/PyTorch ratios).
#
#   bash bench/run_all.sh [BUILD_DIR] [ROUNDS]      (needs -DDPOWB_BENCH=ON; default build, 3)
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
bench=$build/bench/bench_train
py=/usr/bin/python3
[ -x "$bench" ] || { echo "run_all.sh: $bench not built; configure with -DDPOWB_BENCH=ON and run ninja -C $build bench_train" >&2; exit 2; }
$py -c 'import torch' 2>/dev/null || { echo "run_all.sh: Debian's python3-torch is needed for the PyTorch baseline (apt install python3-torch)" >&2; exit 2; }

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
for r in $(seq "$rounds"); do
  run "tiny c++"            "$bench" --model tiny
  run "tiny pytorch"        $py bench/dpo_step.py --model tiny
  run "tiny c++ lora"       "$bench" --model tiny --lora-rank 8
  run "tiny pytorch lora"   $py bench/dpo_step.py --model tiny --lora-rank 8
  run "tiny c++ precompute" "$bench" --model tiny --precompute-ref
done
for r in $(seq "$rounds"); do
  run "25m c++"             "$bench" --model 25m --steps 4
  run "25m pytorch"         $py bench/dpo_step.py --model 25m --steps 4
  run "25m c++ lora"        "$bench" --model 25m --lora-rank 8 --steps 4
  run "25m pytorch lora"    $py bench/dpo_step.py --model 25m --lora-rank 8 --steps 4
  run "25m c++ precompute"  "$bench" --model 25m --precompute-ref --steps 4
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
for model in ("tiny", "25m"):
    for kind in ("", " lora"):
        a, b = med.get(f"{model} c++{kind}"), med.get(f"{model} pytorch{kind}")
        if a and b:
            print(f"{model}{kind}: C++ is {b / a:.2f}x the eager PyTorch step")
    a, b = med.get(f"{model} c++ precompute"), med.get(f"{model} pytorch")
    if a and b:
        print(f"{model} with --precompute-ref: {b / a:.2f}x the eager PyTorch step (live reference)")
PY
