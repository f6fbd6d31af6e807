#!/usr/bin/env bash
# Hard-kill trials of the CLI on one project file: a training run, a bulk import and a
# labelling session, each killed with SIGKILL at a random moment while another process labels
# pairs in the same project. After every kill:
#   - PRAGMA integrity_check and foreign_key_check pass;
#   - every label whose `dpowb label` returned success is in the file (by both labellers);
#   - the pairs table's current verdict agrees with the label history;
#   - import: the killed import left nothing or everything (pair count before or before + N);
#   - train: the killed run shows as interrupted on the next open (`dpowb runs`), and
#     `dpowb train --resume ID` takes it to the end (status finished, every step done).
# (scripts/crash-trial.sh does the same for the GUI's label view driven by key events.)
#
#   scripts/kill-trials.sh [N] [train|import|label ...]    (default 50 trials of each kind)
#
# Needs a build in build/ (or $DPOWB_BUILD_DIR) and python3 (its sqlite3 module checks the
# files). Prints one line per trial and a summary per kind; exits 1 when any trial failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
trials=${1:-50}
shift || true
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(train import label)
build=${DPOWB_BUILD_DIR:-$here/build}
cli=$build/dpowb
[ -x "$cli" ] || { echo "kill-trials: build first (scripts/build.sh)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "kill-trials: needs python3" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
export DPOWB_NO_COLOR=1 OMP_NUM_THREADS=1
pairs=60         # pairs of the base project (48 train, 12 test, all labelled)
bulk=50000       # records of the bulk import
verdicts=(a b tie both_bad skip)

# The base project and the bulk file.
python3 - "$work" "$pairs" "$bulk" <<'PY'
import json, sys, random
work, n, bulk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
words = "good great fine bad poor awful film plot actors music story scene".split()
rng = random.Random(7)
with open(f"{work}/base.jsonl", "w") as f:
    for i in range(n):
        prompt = f"Review {i}: the " + " ".join(rng.choice(words) for _ in range(4))
        f.write(json.dumps({"prompt": prompt, "chosen": f" was good {i}", "rejected": f" was bad {i}",
                            "split": "test" if i % 5 == 4 else "train"}) + "\n")
with open(f"{work}/bulk.jsonl", "w") as f:
    for i in range(bulk):
        f.write(json.dumps({"prompt": f"Bulk prompt {i} " + " ".join(rng.choice(words) for _ in range(8)),
                            "chosen": f"chosen {i}", "rejected": f"rejected {i}"}) + "\n")
PY
"$cli" init "$work/base.db" >/dev/null 2>&1 && "$cli" import "$work/base.db" "$work/base.jsonl" >/dev/null 2>&1 ||
  { echo "kill-trials: cannot make the base project" >&2; exit 1; }
# (trl records arrive labelled: chosen is response A, verdict a.)

labeller() {  # labeller DB LOG SEED: labels random pairs until killed; logs each success
  local db=$1 log=$2
  RANDOM=$3
  while :; do
    local id=$((RANDOM % pairs + 1)) v=${verdicts[$((RANDOM % 5))]}
    if "$cli" label "$db" "$id" "$v" >/dev/null 2>>"$log.err"; then echo "$id $v" >>"$log"; fi
  done
}

# check DB LOGS... -> "LOGGED LOST PAIRS PROBLEMS"
check() {
  python3 - "$@" <<'PY'
import sqlite3, sys, collections
db, logs = sys.argv[1], sys.argv[2:]
con = sqlite3.connect(db)
problems = []
ic = con.execute("PRAGMA integrity_check").fetchall()
if ic != [("ok",)]: problems.append("integrity_check: " + "; ".join(r[0] for r in ic[:3]))
if con.execute("PRAGMA foreign_key_check").fetchall(): problems.append("foreign_key_check failed")
want = collections.Counter()
for log in logs:
    try:
        for line in open(log):
            f = line.split()
            if len(f) == 2: want[(int(f[0]), f[1])] += 1
    except FileNotFoundError:
        pass
lost = 0
for (pair, verdict), k in want.items():
    have = con.execute("SELECT count(*) FROM labels WHERE pair_id=? AND verdict=? AND reverts IS NULL",
                       (pair, verdict)).fetchone()[0]
    lost += max(0, k - have)
drift = con.execute("""SELECT count(*) FROM pairs p WHERE p.current_verdict IS NOT
  (SELECT l.verdict FROM labels l WHERE l.pair_id = p.id ORDER BY l.id DESC LIMIT 1)""").fetchone()[0]
if drift: problems.append(f"{drift} pairs whose current verdict disagrees with their history")
n = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
print(sum(want.values()), lost, n, "|".join(problems).replace(" ", "_") or "ok")
PY
}

RANDOM=${DPOWB_TRIAL_SEED:-2026}  # the kill moments are reproducible
rand() { awk -v r="$RANDOM" -v lo="$1" -v hi="$2" 'BEGIN{printf "%.2f", lo + (hi - lo) * r / 32767}'; }

# Calibration: how long an unkilled run of each victim takes here (the kill moment is drawn
# from [0, that time]).
victim_cmd() {  # victim_cmd KIND DB
  case "$1" in
    train) echo "$cli train --db $2 --model builtin:tiny --device cpu --sft-epochs 0 --max-steps 12 --save-steps 2 \
--batch-size 2 --max-length 48 --max-prompt-length 24 --logging-steps 1 --eval-steps 6 --name trial" ;;
    import) echo "$cli import $2 $work/bulk.jsonl" ;;
  esac
}

declare -A failed total_time
summary=()
for kind in "${kinds[@]}"; do
  span=3
  if [ "$kind" != label ]; then
    cp "$work/base.db" "$work/cal.db"
    t0=$(date +%s.%N)
    $(victim_cmd "$kind" "$work/cal.db") >"$work/cal.out" 2>&1 || { echo "kill-trials: $kind does not run:"; tail -n3 "$work/cal.out"; exit 1; }
    span=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}')
    rm -rf "$work"/cal.*
  fi
  echo "kill-trials: $kind: an unkilled one takes ${span} s here; $trials trials" >&2
  bad=0 lost_total=0 logged_total=0 resumed=0 fresh=0 none=0 finished=0 partial_states=""
  for ((r = 1; r <= trials; r++)); do
    d=$work/$kind$r; mkdir -p "$d"
    cp "$work/base.db" "$d/p.db"
    before=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from pairs').fetchone()[0])" "$d/p.db")
    labeller "$d/p.db" "$d/other.log" $((r * 31 + 7)) 2>/dev/null & other=$!
    at=$(rand 0.05 "$span")
    case "$kind" in
      label) labeller "$d/p.db" "$d/victim.log" $((r * 17 + 3)) 2>/dev/null & victim=$! ;;
      *) $(victim_cmd "$kind" "$d/p.db") >"$d/victim.out" 2>&1 & victim=$! ;;
    esac
    sleep "$at"
    # SIGKILL the victim (and, for the labelling loop, the dpowb it is running at that moment).
    kill -9 $(pgrep -P "$victim" 2>/dev/null) "$victim" 2>/dev/null
    wait "$victim" 2>/dev/null
    sleep 0.2
    kill -9 "$other" $(pgrep -P "$other" 2>/dev/null) 2>/dev/null
    wait 2>/dev/null
    note=""
    read -r logged lost count problems <<<"$(check "$d/p.db" "$d/other.log" "$d/victim.log")"
    logged_total=$((logged_total + logged)); lost_total=$((lost_total + lost))
    ok=1
    [ "$problems" = ok ] && [ "$lost" = 0 ] || ok=0
    if [ "$kind" = import ]; then
      if [ "$count" = "$before" ]; then note="import: nothing"
      elif [ "$count" = $((before + bulk)) ]; then note="import: everything"
      else note="import: PARTIAL ($count pairs)"; ok=0; fi
    fi
    if [ "$kind" = train ]; then
      runs=$("$cli" runs "$d/p.db" --json 2>&1)
      status=$(echo "$runs" | python3 -c "import json,sys; l=[json.loads(x) for x in sys.stdin if x.strip()]; print(l[-1]['status'] if l else 'none')" 2>/dev/null || echo "unreadable")
      case "$status" in
        none) note="train: killed before the run was recorded"; none=$((none + 1)) ;;
        finished) note="train: had finished"; finished=$((finished + 1)) ;;
        interrupted)
          id=$(echo "$runs" | python3 -c "import json,sys; print([json.loads(x) for x in sys.stdin if x.strip()][-1]['id'])")
          if "$cli" train --db "$d/p.db" --resume "$id" >"$d/resume.out" 2>&1; then
            after=$("$cli" runs "$d/p.db" --json | python3 -c "import json,sys; r=[json.loads(x) for x in sys.stdin if x.strip()][-1]; print(r['status'], r['step'], r['total_steps'])")
            if [ "$after" = "finished 12 12" ]; then
              if grep -q "starts again from step 0" "$d/resume.out"; then fresh=$((fresh + 1)); note="train: interrupted, restarted (no checkpoint yet), finished";
              else resumed=$((resumed + 1)); note="train: interrupted, resumed from its checkpoint, finished"; fi
            else note="train: resumed but then: $after"; ok=0; fi
          else note="train: resume FAILED: $(tail -n1 "$d/resume.out")"; ok=0; fi
          check2=$(check "$d/p.db" "$d/other.log" "$d/victim.log")
          [ "$(echo "$check2" | awk '{print $2, $4}')" = "0 ok" ] || { note="$note; after resume: $check2"; ok=0; } ;;
        *) note="train: status $status after the kill (expected interrupted)"; ok=0 ;;
      esac
    fi
    [ "$ok" = 1 ] || bad=$((bad + 1))
    printf '%s %2d: killed at %5.2f s, %4d labels committed, %d lost, file %s; %s\n' "$kind" "$r" "$at" "$logged" "$lost" \
      "$problems" "${note:-}"
    [ "$ok" = 1 ] && rm -rf "$d"
  done
  extra=""
  [ "$kind" = train ] && extra=" (resumed from a checkpoint $resumed, restarted before the first checkpoint $fresh, killed before recording $none, had finished $finished)"
  line="$kind: $((trials - bad))/$trials trials clean, $logged_total labels committed, $lost_total lost$extra"
  summary+=("$line")
  failed[$kind]=$bad
done
printf 'kill-trials: %s\n' "${summary[@]}"
for k in "${kinds[@]}"; do [ "${failed[$k]}" = 0 ] || exit 1; done
exit 0
