#!/usr/bin/env bash
# Data-parallel scaling of `dpowb train` on this machine: the same run (same global batch, same
# steps, same data) as one process and as N Gloo ranks (`--nproc N`), alternating, ROUNDS times.
#
#   bash bench/dist_scaling.sh [BUILD_DIR] [NPROC] [ROUNDS] [STEPS] [MODEL]
#   defaults: build 2 3 30 builtin:tiny
#
# The one process uses all cores (OMP_NUM_THREADS unset: LibTorch's default; ONE_THREADS=T sets
# its OMP_NUM_THREADS), the N ranks share them (the launcher gives each cores/N threads). Training time is taken from the run's own
# tokens_per_second (the mean over the logged intervals after the first, so that loading and
# the first step's allocations are left out) and from the wall time of the whole command.
# Prints one JSON line per run and a summary with the median ratios (N ranks / one process).
set -euo pipefail
build=${1:-build}
nproc=${2:-2}
rounds=${3:-3}
steps=${4:-30}
model=${5:-builtin:tiny}
dpowb="$build/dpowb"
[ -x "$dpowb" ] || { echo "dist_scaling.sh: $dpowb not built" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$dpowb" init "$work/p.db" --demo >/dev/null 2>&1
per_rank=4
common=(train --db "$work/p.db" --model "$model" --max-steps "$steps" --logging-steps 5 --eval-steps 100000
        --sft-epochs 0 --precompute-ref --device cpu --seed 1)
# The reference cache is filled once, so that every timed run does the same work.
"$dpowb" "${common[@]}" --max-steps 1 --batch-size $((per_rank * nproc)) --out "$work/warm" >/dev/null 2>&1

run() {  # label args...
  local label=$1; shift
  local out="$work/$label.jsonl" t0 t1
  t0=$(date +%s.%N)
  "$dpowb" "${common[@]}" --metrics "$out" "$@" --out "$work/out-$label-$RANDOM" >/dev/null 2>"$work/err" ||
    { tail -5 "$work/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 - "$out" "$label" "$t0" "$t1" <<'PY'
import json, sys
path, label, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
rows = [json.loads(l) for l in open(path) if '"eval_' not in l]
tps = [r["tokens_per_second"] for r in rows[1:]] or [rows[-1]["tokens_per_second"]]
print(json.dumps({"run": label, "tokens_per_second": round(sum(tps) / len(tps), 1), "wall_seconds": round(t1 - t0, 2)}))
PY
}

results="$work/results"
for r in $(seq "$rounds"); do
  if [ -n "${ONE_THREADS:-}" ]; then
    OMP_NUM_THREADS=$ONE_THREADS run one --batch-size $((per_rank * nproc)) | tee -a "$results"
  else
    run one --batch-size $((per_rank * nproc)) | tee -a "$results"
  fi
  run "ranks$nproc" --batch-size $per_rank --nproc "$nproc" | tee -a "$results"
done
python3 - "$results" "$nproc" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = sys.argv[2]
one = [r for r in rows if r["run"] == "one"]
many = [r for r in rows if r["run"] != "one"]
tps = statistics.median(m["tokens_per_second"] / o["tokens_per_second"] for o, m in zip(one, many))
wall = statistics.median(o["wall_seconds"] / m["wall_seconds"] for o, m in zip(one, many))
print(json.dumps({"summary": f"{n} Gloo ranks vs 1 process, same global batch",
                  "tokens_per_second_ratio": round(tps, 3), "wall_speedup": round(wall, 3),
                  "one_tokens_per_second": statistics.median(o["tokens_per_second"] for o in one),
                  "ranks_tokens_per_second": statistics.median(m["tokens_per_second"] for m in many)}))
PY
