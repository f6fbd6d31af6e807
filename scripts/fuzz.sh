#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan; no LibTorch) into build-fuzz/ and
# runs each for a fixed time on a corpus seeded from the test fixtures. Prints one summary line
# per target (executions, exec/s, coverage, corpus size) and exits 1 when any target found a
# crash (the reproducer is left in $DPOWB_FUZZ_OUT/<target>/crash-*).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#
# DPOWB_FUZZ_OUT: where corpora, logs and crashes go (default build-fuzz/runs). Corpora are
# kept between runs, so a second run starts where the first stopped. A short smoke run for CI:
# scripts/fuzz.sh 10 (about 10 s per target once built).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
shift || true
build="${DPOWB_FUZZ_BUILD_DIR:-$here/build-fuzz}"
out="${DPOWB_FUZZ_OUT:-$build/runs}"
data="$here/tests/data"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$here}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

# clang and its libFuzzer runtime (Debian 12: clang 14), installed when missing.
need=()
command -v clang++ >/dev/null || need+=(clang)
[ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] || need+=(libclang-rt-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "fuzz.sh: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
    { DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; }
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPOWB_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >&2
fi
cmake --build "$build" -- -j"${DPOWB_JOBS:-1}" >&2

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_safetensors_header fuzz_safetensors_index fuzz_tokenizer_json fuzz_tokenize fuzz_import
           fuzz_chat_template fuzz_project fuzz_json_fast)
fi

# Seeds: the fixtures each parser reads in the tests. A target that takes a leading selector
# byte (import: format and extension; tokenize and chat templates: mode) gets seeds with one.
seed() {  # seed TARGET NAME < bytes
  mkdir -p "$out/$1/seeds"
  cat > "$out/$1/seeds/$2"
}
make_seeds() {
  local t="$1"
  mkdir -p "$out/$t/seeds"
  case "$t" in
    fuzz_safetensors_header)
      for f in $(find "$data" -name '*.safetensors'); do
        # The header and the first kilobytes of data: whole checkpoints are too large to mutate.
        head -c 65536 "$f" | seed "$t" "$(basename "$(dirname "$f")")-$(basename "$f")"
      done
      python3 - "$out/$t/seeds" <<'PY'
import json, struct, sys, os
d = sys.argv[1]
def write(name, header, data):
    h = json.dumps(header).encode()
    open(os.path.join(d, name), "wb").write(struct.pack("<Q", len(h)) + h + data)
write("small", {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]}, "c": {"dtype": "BOOL", "shape": [], "data_offsets": [22, 23]}}, bytes(23))
write("empty", {}, b"")
PY
      ;;
    fuzz_safetensors_index)
      printf '{"metadata": {"total_size": 64}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}' | seed "$t" index
      ;;
    fuzz_tokenizer_json)
      for f in $(find "$data" -name 'tokenizer.json' -size -2M); do
        seed "$t" "$(basename "$(dirname "$f")")" < "$f"
      done
      ;;
    fuzz_tokenize)
      local i=0
      for f in "$data"/text/expected-*.jsonl "$data"/text/stress.jsonl; do
        [ -f "$f" ] || continue
        python3 - "$f" "$out/$t/seeds" "$i" <<'PY'
import json, sys, os
src, d, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
for n, line in enumerate(open(src, encoding="utf-8", errors="replace")):
    if n >= 20: break
    try: text = json.loads(line).get("text", "")
    except Exception: continue
    if not isinstance(text, str): continue
    for sel in (0, 4, 8, 12):
        open(os.path.join(d, f"{k}-{n}-{sel}"), "wb").write(bytes([sel]) + text.encode("utf-8", "replace"))
PY
        i=$((i + 1))
      done
      ;;
    fuzz_json_fast)
      # JSON documents of the fixtures: records one per line, arrays, configs, tokenizer heads.
      for f in "$data"/store/*.json "$data"/store/*.jsonl; do
        [ -f "$f" ] || continue
        head -n 1 "$f" | seed "$t" "$(basename "$f")-line1"
        [ "${f%.json}" != "$f" ] && head -c 65536 "$f" | seed "$t" "$(basename "$f")"
      done
      for f in $(find "$data" -name config.json | head -n 20); do
        seed "$t" "config-$(basename "$(dirname "$f")")" < "$f"
      done
      printf '[0, -0, 1.5e-3, 18446744073709551616, -9223372036854775809, "\\u00e9\\ud83d\\ude00", null, true]' |
        seed "$t" numbers-and-escapes
      ;;
    fuzz_import)
      # Format index 0 is "auto"; the extension byte follows the file's own.
      for f in "$data"/store/*; do
        case "$f" in
          *.jsonl.gz) ext=3 ;; *.csv) ext=2 ;; *.json) ext=1 ;; *) ext=0 ;;
        esac
        { printf "\\x00\\x$(printf %02x $ext)"; head -c 65536 "$f"; } | seed "$t" "$(basename "$f")"
      done
      ;;
    fuzz_chat_template)
      python3 - "$data/text/chat-templates.json" "$out/$t/seeds" <<'PY'
import json, sys, os
src, d = sys.argv[1], sys.argv[2]
try: doc = json.load(open(src, encoding="utf-8"))
except Exception: doc = {}
def strings(x):
    if isinstance(x, str): yield x
    elif isinstance(x, dict):
        for v in x.values(): yield from strings(v)
    elif isinstance(x, list):
        for v in x: yield from strings(v)
n = 0
for s in strings(doc):
    if "{%" in s or "{{" in s:
        open(os.path.join(d, f"jinja-{n}"), "wb").write(b"\x00\x00" + s.encode()); n += 1
for k in range(8):
    open(os.path.join(d, f"render-{k}"), "wb").write(bytes([1 | (k & 2), k]) + b"\x00\x00sys\x00\x01\x00hi\x00\x02\x00hello")
PY
      ;;
    fuzz_project)
      mkdir -p "$out/$t/seeds"
      [ -f "$out/$t/seeds/seed.db" ] || DPOWB_FUZZ_MAKE_SEED="$out/$t/seeds/seed.db" "$build/fuzz/$t"
      rm -f "$out/$t/seeds/seed.db-wal" "$out/$t/seeds/seed.db-shm"
      ;;
  esac
}

status=0
USER="${USER:-$(id -un)}"
tokdirs=""
for d in "$data/text/gpt2" "$data/text/flags" "$data/text/byte"; do
  [ -f "$d/tokenizer.json" ] && tokdirs="${tokdirs:+$tokdirs:}$d"
done
export DPOWB_FUZZ_TOKENIZERS="$tokdirs"
# ASan's leak check stays on here: these targets load no LibTorch.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for t in "${targets[@]}"; do
  mkdir -p "$out/$t/corpus"
  make_seeds "$t"
  log="$out/$t/last.log"
  echo "fuzz.sh: $t for $seconds s" >&2
  # Scratch files (the inputs written for the file-based parsers, the import target's project)
  # on tmpfs when there is one: SQLite's commits then cost no disk flush.
  scratch="$out/$t/tmp"
  [ -d /dev/shm ] && [ -w /dev/shm ] && scratch="/dev/shm/dpowb-fuzz-$USER-$t"
  mkdir -p "$scratch"
  maxlen="${DPOWB_FUZZ_MAX_LEN:-65536}"
  [ "$t" = fuzz_project ] && maxlen="${DPOWB_FUZZ_MAX_LEN:-1048576}"  # whole project files (the seed is ~470 KB)
  ( cd "$out/$t" && TMPDIR="$scratch" "$build/fuzz/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -max_len="$maxlen" -print_final_stats=1 corpus seeds ) > "$log" 2>&1 || status=1
  rm -rf "$scratch"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  last=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo "?")
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo "?")
  eps=$(echo "$last" | grep -o 'exec/s: [0-9]*' | grep -o '[0-9]*' || echo "?")
  corpus=$(ls "$out/$t/corpus" | wc -l)
  crash=$(ls "$out/$t" | grep -E '^(crash|leak|timeout|oom)-' | head -n1 || true)
  printf '%-26s %10s execs %8s exec/s  cov %6s  ft %7s  corpus %6s  %s\n' "$t" "$execs" "$eps" "$cov" "$ft" "$corpus" \
    "${crash:+FOUND $out/$t/$crash}"
  [ -z "$crash" ] || status=1
done
exit $status
