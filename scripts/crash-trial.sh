#!/usr/bin/env bash
# Crash-and-concurrency trial of the project file: the GUI and the CLI on one project, file
# dialogs opened and closed, random SIGKILLs; afterwards the file must pass integrity_check
# and hold every label any process reported as committed.
#
#   scripts/crash-trial.sh [RUNS] [--qt-dialogs]      (default 50 runs; needs a build in build/)
#
# Each run: a fresh copy of a 2,500-pair project; the real main window (build/tests/dpowb-trial-gui,
# offscreen) types label keys into whatever has the focus and opens the GUI's file dialogs on
# the project's folder; two shell loops label random pairs with `dpowb label`, one reads with
# `dpowb stats`; after 2-6 s random ones of them are killed with SIGKILL, mid-command or not,
# then the rest. --qt-dialogs makes the GUI open Qt's stock dialog instead of ours: what the
# GUI did before the fix, to show that the trial catches the damage.
# Prints one line per run and a summary; exits 1 if any run lost a label or a file is corrupt.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=${1:-50}
mode=${2:-}
build=${DPOWB_BUILD_DIR:-$here/build}
cli=$build/dpowb
gui=$build/tests/dpowb-trial-gui
[ -x "$cli" ] && [ -x "$gui" ] || { echo "crash-trial: build first (scripts/build.sh; target dpowb-trial-gui)" >&2; exit 2; }
py=python3
command -v "$py" >/dev/null || { echo "crash-trial: needs python3 (its sqlite3 module checks the files)" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
export QT_QPA_PLATFORM=offscreen DPOWB_NO_COLOR=1
"$cli" init "$work/base.db" --demo >/dev/null 2>&1 || { echo "crash-trial: dpowb init failed" >&2; exit 1; }
verdicts=(a b tie both_bad skip)

writer() {  # writer DB LOG SEED
  local db=$1 log=$2 n=0
  RANDOM=$3
  while :; do
    local id=$((RANDOM % 2500 + 1)) v=${verdicts[$((RANDOM % 5))]}
    if "$cli" label "$db" "$id" "$v" >/dev/null 2>>"$log.err"; then echo "cli $id $v" >>"$log"; fi
    n=$((n + 1))
  done
}
reader() {  # reader DB LOG
  while :; do "$cli" stats "$1" --json >/dev/null 2>>"$2.err" || echo "stats failed" >>"$2.err"; done
}

bad=0 lost_total=0 labels_total=0
for ((r = 1; r <= runs; r++)); do
  d=$work/run$r; mkdir -p "$d"
  cp "$work/base.db" "$d/p.db"
  "$gui" "$d/p.db" "$d/gui.log" "$r" ${mode:+qt-dialogs} >"$d/gui.out" 2>&1 & gpid=$!
  writer "$d/p.db" "$d/cli1.log" $((r * 7 + 1)) & w1=$!
  writer "$d/p.db" "$d/cli2.log" $((r * 13 + 2)) & w2=$!
  reader "$d/p.db" "$d/reader.log" & rd=$!
  sleep "$(awk -v s=$r 'BEGIN{srand(s); printf "%.2f", 2 + 4 * rand()}')"
  # Random victims first (the GUI, a writer's dpowb in mid-command), then everyone.
  for victim in $gpid $(pgrep -P $w1) $(pgrep -P $w2); do
    (( RANDOM % 2 )) && kill -9 "$victim" 2>/dev/null
  done
  sleep 0.3
  kill -9 $w1 $w2 $rd $(pgrep -P $w1) $(pgrep -P $w2) $(pgrep -P $rd) $gpid 2>/dev/null
  wait 2>/dev/null
  cat "$d"/gui.log "$d"/cli1.log "$d"/cli2.log 2>/dev/null >"$d/all.log"
  result=$("$py" - "$d/p.db" "$d/all.log" <<'PY'
import sqlite3, sys, collections
db, log = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
problems = []
ic = con.execute("PRAGMA integrity_check").fetchall()
if ic != [("ok",)]: problems.append("integrity_check: " + "; ".join(r[0] for r in ic[:3]))
if con.execute("PRAGMA foreign_key_check").fetchall(): problems.append("foreign_key_check failed")
n, mx = con.execute("SELECT count(*), max(id) FROM pairs").fetchone()
if n != 2500 or mx != 2500: problems.append(f"pairs: count {n}, max(id) {mx}")
want = collections.Counter()
gui_ids = []
for line in open(log):
    f = line.split()
    if f[0] == "gui": gui_ids.append((int(f[1]), int(f[2]), f[3])); want[(int(f[2]), f[3])] += 1
    elif f[0] == "cli": want[(int(f[1]), f[2])] += 1
lost = 0
for (pair, verdict), k in want.items():
    have = con.execute("SELECT count(*) FROM labels WHERE pair_id=? AND verdict=? AND reverts IS NULL", (pair, verdict)).fetchone()[0]
    lost += max(0, k - have)
for lid, pair, verdict in gui_ids:
    row = con.execute("SELECT pair_id, verdict FROM labels WHERE id=?", (lid,)).fetchone()
    if row != (pair, verdict): lost += 1
# the pairs table's cached current verdict agrees with the label history
drift = con.execute("""SELECT count(*) FROM pairs p WHERE p.current_verdict IS NOT
  (SELECT l.verdict FROM labels l WHERE l.pair_id = p.id ORDER BY l.id DESC LIMIT 1)""").fetchone()[0]
if drift: problems.append(f"{drift} pairs whose current verdict disagrees with their history")
print(sum(want.values()), lost, " | ".join(problems) or "ok")
PY
  ) || result="0 0 cannot-check"
  read -r logged lost verdict <<<"$result"
  labels_total=$((labels_total + logged)); lost_total=$((lost_total + lost))
  [ "$verdict" != ok ] || [ "$lost" != 0 ] && bad=$((bad + 1))
  printf 'run %2d: %4d labels committed, %d lost, file %s\n' "$r" "$logged" "$lost" "$verdict"
done
printf 'crash-trial: %d runs, %d labels committed, %d lost, %d runs with a corrupt file or a lost label\n' \
  "$runs" "$labels_total" "$lost_total" "$bad"
[ "$bad" -eq 0 ]
