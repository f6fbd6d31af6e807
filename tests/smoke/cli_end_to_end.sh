#!/usr/bin/env bash
# The CLI end to end, with nothing but bash and the dpowb binary (no Qt): the check a GPU
# server without Qt can run. A demo project; a short DPO run of the built-in tiny model on
# this machine's device (DPOWB_TEST_DEVICE, default auto: CUDA where there is one), with its
# model folder, metrics and run record; scoring the test split with the trained policy; and an
# import with a bad line that fails with FILE:LINE and adds nothing.
#
# usage: cli_end_to_end.sh PATH/TO/dpowb
set -euo pipefail
dpowb="$1"
device="${DPOWB_TEST_DEVICE:-auto}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
db="$tmp/demo.dpowb"

"$dpowb" init "$db" --demo
pairs() { "$dpowb" stats "$db" --json | grep -oE '"pairs": ?[0-9]+' | grep -oE '[0-9]+$'; }
before="$(pairs)"
[ "$before" -gt 0 ] || fail "stats counts no pairs in the demo project"

steps=3
"$dpowb" train --db "$db" --model builtin:tiny --device "$device" --max-steps "$steps" --sft-epochs 0 \
    --batch-size 4 --max-length 64 --max-prompt-length 32 --logging-steps 1 --eval-steps "$steps" \
    --out "$tmp/run" --metrics "$tmp/metrics.jsonl" ||
    fail "dpowb train exited with $?"
[ -f "$tmp/run/model.safetensors" ] && [ -f "$tmp/run/config.json" ] || fail "no model folder in $tmp/run"
logged="$(grep -c '"loss"' "$tmp/metrics.jsonl" || true)"
[ "$logged" -ge "$steps" ] || fail "$logged logged points for $steps steps"
grep -q "\"step\": \?$steps\b" "$tmp/metrics.jsonl" || fail "step $steps is not in the metrics file"
if grep -q 'null' "$tmp/metrics.jsonl"; then fail "a metric is not finite (written as null)"; fi

scored="$("$dpowb" score-pairs "$db" --run 1 --split test --device "$device" | grep -c '"margin"' || true)"
[ "$scored" -gt 0 ] || fail "score-pairs scored no pair of the test split"

printf '%s\n' '{"prompt":"p","chosen":"a","rejected":"b"}' '{"prompt":"p","chosen":3,"rejected":"b"}' >"$tmp/bad.jsonl"
set +e
err="$("$dpowb" import "$db" "$tmp/bad.jsonl" 2>&1 >/dev/null)"
code=$?
set -e
[ "$code" -eq 1 ] || fail "a bad import exited with $code, not 1"
case "$err" in "$tmp/bad.jsonl:2:"*) ;; *) fail "a bad import said: $err" ;; esac
[ "$(pairs)" -eq "$before" ] || fail "a failed import added pairs"
echo "cli end to end on device $device: ok"
