#!/usr/bin/env bash
# The GPU check, in two halves.
#
#   scripts/gpu-check.sh --prepare [BUILD_DIR]
#       Here (Debian, the project's toolchain): builds dpowb, bench_train and bench_gpu_check
#       against the pinned torch wheel and puts them, stripped, with the few shared libraries a
#       GPU server may lack (SQLite, PCRE2, utf8proc, zlib; GCC 12's libstdc++ as a fallback) into
#       gpu-bundle/ (git-ignored), and the same as gpu-bundle.tar.xz (about 17 MB: Arrow's libraries
#       make the folder over 60 MB, more than the device tool carries with the tree, 64 MB in all;
#       carry the archive, `carry: ["gpu-bundle.tar.xz"]`, and give it as --bundle there).
#       The programs need glibc 2.34 or newer on the server.
#
#   scripts/gpu-check.sh [--device cuda|cpu] [--bundle DIR|FILE.tar.xz] [--quick]
#       There (one GPU, `python3` with torch 2.11 + CUDA, no network, no Qt, no SQLite headers):
#       runs the bundled programs against python3's own LibTorch (same version as the pin) and
#       prints ONE JSON summary on stdout (progress on stderr), in well under 8 minutes on an
#       H100: CPU vs CUDA float32 log-probs of Llama, Qwen2 and GPT-2 networks, a bf16 DPO step
#       against the float32 one, the demo trained on CUDA (eval accuracy, wall time), and the
#       training step of a Qwen2.5-0.5B-shaped Llama (bf16 autocast, sequence 1,024, LoRA r=16
#       and full fine-tuning) in C++ and in eager PyTorch, with tokens/s and model FLOPs
#       utilisation against the GPU's bf16 peak. With two or more GPUs, also data parallelism on
#       NCCL (docs/DISTRIBUTED.md): the all-reduce bandwidth of the trainer's gradient averaging
#       (bench_allreduce, 2 ranks) and the demo's training step as 2 ranks on 2 GPUs against 1 GPU
#       with the same global batch (tokens/s, and the two models' largest weight difference).
#       --device cpu runs the same on the CPU (with a ~25M model, short runs, Gloo for the
#       data-parallel part) to test the script where there is no GPU; --quick shortens the demo
#       and the benchmark.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
device=cuda
bundle="$here/gpu-bundle"
quick=0
prepare=0
build="$here/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) prepare=1; [ $# -gt 1 ] && [ "${2#--}" = "$2" ] && { build="$2"; shift; } ;;
    --device) device="$2"; shift ;;
    --bundle) bundle="$2"; shift ;;
    --quick) quick=1 ;;
    *) echo "gpu-check: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "gpu-check: $*" >&2; }

if [ "$prepare" = 1 ]; then
  export CCACHE_BASEDIR="$here"
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
  if [ -f "$build/build.ninja" ]; then cmake "$build" -DDPOWB_BENCH=ON >&2
  else cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPOWB_BENCH=ON >&2; fi
  cmake --build "$build" --target dpowb dpowb-torch bench_train bench_gpu_check bench_allreduce -- -j"${DPOWB_JOBS:-1}" >&2
  rm -rf "$bundle"
  mkdir -p "$bundle/bin" "$bundle/lib"
  # dpowb execs dpowb-torch from beside it, which loads the NCCL plugin from beside itself.
  for p in "$build/dpowb" "$build/dpowb-torch" "$build/bench/bench_train" "$build/bench/bench_gpu_check" \
           "$build/bench/bench_allreduce" "$build/libdpowb_nccl.so"; do
    [ -f "$p" ] || { [ "$(basename "$p")" = libdpowb_nccl.so ] && { log "no NCCL plugin in $build (no CUDA/NCCL headers): data parallelism on GPUs will not be checked"; continue; }; }
    strip -o "$bundle/bin/$(basename "$p")" "$p"
  done
  # Shared libraries other than glibc's, the compiler runtime's and LibTorch's own (python3's
  # torch brings those): the GPU server may not have them.
  # (The NCCL plugin's own libraries are libtorch_cuda's, which the server's torch brings.)
  for lib in $(ldd $(ls "$bundle"/bin/* | grep -v '\.so$') | awk '/=> \// {print $3}' | sort -u); do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libutil.so*|ld-linux*|libtorch*|libc10*|libgomp*|libcudart*|libcupti*) ;;
      # The C++ runtime goes aside: it is used only where the server's own is older than
      # GCC 12's (Debian's needs glibc 2.36, which an older server lacks).
      libstdc++*|libgcc_s*) mkdir -p "$bundle/lib-cxx"; cp -L "$lib" "$bundle/lib-cxx/" ;;
      *) cp -L "$lib" "$bundle/lib/"; strip --strip-unneeded "$bundle/lib/$(basename "$lib")" ;;
    esac
  done
  sed -n 's/^torch==//p' "$here/scripts/requirements.txt" >"$bundle/torch-version"
  tar -C "$(dirname "$bundle")" -cf - "$(basename "$bundle")" | xz -T0 -6 >"$bundle.tar.xz"
  log "bundle ready: $bundle ($(du -sh "$bundle" | cut -f1)), $bundle.tar.xz ($(du -sh "$bundle.tar.xz" | cut -f1)): $(ls "$bundle/bin" | tr '\n' ' ')+ $(ls "$bundle/lib" | tr '\n' ' ')"
  exit 0
fi

# The archive of --prepare (what the device tool carries): unpacked into a temporary folder.
[ ! -d "$bundle" ] && [ ! -f "$bundle" ] && [ -f "$bundle.tar.xz" ] && bundle="$bundle.tar.xz"
if [ -f "$bundle" ]; then
  unpacked=$(mktemp -d)
  tar -xJf "$bundle" -C "$unpacked" || { log "$bundle: not a bundle archive of --prepare"; exit 2; }
  trap 'rm -rf "$unpacked"' EXIT
  bundle="$unpacked/$(ls "$unpacked" | head -n 1)"
fi
[ -x "$bundle/bin/dpowb" ] || { log "$bundle/bin/dpowb is missing: run scripts/gpu-check.sh --prepare first (here, not on the GPU machine)"; exit 2; }
. "$here/scripts/venv-path.sh"
py="${DPOWB_GPU_PYTHON:-}"
if [ -z "$py" ]; then
  # The GPU server's python3 has torch; here the virtual environment of install-deps.sh has it.
  if python3 -c 'import torch' 2>/dev/null; then py=python3; else py="$DPOWB_VENV/bin/python"; fi
fi
work_info=$(mktemp)
torch_lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
torch_version=$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')
want=$(cat "$bundle/torch-version")
if [ "${torch_version%.*}" != "${want%.*}" ]; then
  log "the bundle was built against torch $want, $py has $torch_version: the C++ programs need the same major.minor"
  exit 2
fi
export LD_LIBRARY_PATH="$bundle/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! "$bundle/bin/dpowb" info >"$work_info" 2>&1; then
  log "dpowb does not start with this machine's C++ runtime ($(head -c 300 "$work_info")); using the bundled one"
  export LD_LIBRARY_PATH="$bundle/lib-cxx:$LD_LIBRARY_PATH"
  "$bundle/bin/dpowb" info >"$work_info" 2>&1 || { log "dpowb still does not start: $(cat "$work_info")"; exit 1; }
fi
log "$(cat "$work_info")"
if [ "$device" = cuda ]; then
  "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
    { log "$py's torch sees no CUDA device; use --device cpu for a dry run"; exit 2; }
  export DPOWB_TORCH_CUDA="$torch_lib/libtorch_cuda.so"
  bench_model=qwen0.5b seq=1024 pairs=4 steps=6 lora=16
  [ "$quick" = 1 ] && steps=2
  gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())')
  dist_sizes=1,16,64,256 dist_steps=40
else
  bench_model=25m seq=256 pairs=2 steps=2 lora=16
  gpus=0 dist_sizes=1,16 dist_steps=6
fi
work=$(mktemp -d)
trap 'rm -rf "$work" "$work_info" ${unpacked:+"$unpacked"}' EXIT
bin="$bundle/bin"
t0=$(date +%s)

log "1/4 numerics (log-prob parity, bf16 step) on $device"
"$bin/bench_gpu_check" --device "$device" >"$work/numerics.json"

log "2/4 the demo trained on $device"
"$bin/dpowb" init "$work/demo.db" --demo >&2
demo_args=(train --db "$work/demo.db" --model builtin:tiny --device "$device" --metrics "$work/demo-metrics.jsonl")
[ "$quick" = 1 ] && demo_args+=(--max-steps 10)
ds=$(date +%s.%N)
"$bin/dpowb" "${demo_args[@]}" >"$work/demo.out" 2>"$work/demo.err" || { tail -5 "$work/demo.err" >&2; exit 1; }
de=$(date +%s.%N)
echo "$ds $de" >"$work/demo.time"

log "3/4 training step of the $bench_model model, bf16 autocast, sequence $seq: C++ and eager PyTorch"
"$bin/bench_train" --peak --device "$device" --dtype bfloat16 >"$work/peak.json"
for r in 0 "$lora"; do
  extra=()
  [ "$r" != 0 ] && extra=(--lora-rank "$r")
  "$bin/bench_train" --model "$bench_model" --device "$device" --dtype bfloat16 --seq-len "$seq" --batch "$pairs" \
    --steps "$steps" "${extra[@]}" | tail -n 1 >"$work/cpp-$r.json"
  "$py" "$here/bench/dpo_step.py" --model "$bench_model" --device "$device" --dtype bfloat16 --attn sdpa \
    --seq-len "$seq" --batch "$pairs" --steps "$steps" "${extra[@]}" | tail -n 1 >"$work/eager-$r.json"
done

# 4/4 data parallelism: NCCL with two GPUs (Gloo on the CPU for --device cpu, a dry run).
echo '{}' >"$work/dist.json"
if [ "$device" = cpu ] || [ "${gpus:-0}" -ge 2 ]; then
  backend=$([ "$device" = cuda ] && echo NCCL || echo Gloo)
  log "4/4 data parallel, 2 ranks on $backend: all-reduce bandwidth, and the demo step on 2 devices vs 1"
  "$bin/bench_allreduce" --nproc 2 --device "$device" --sizes-mb "$dist_sizes" >"$work/allreduce.json"
  dist_args=(train --db "$work/demo.db" --model builtin:tiny --device "$device" --sft-epochs 0 --precompute-ref
             --max-steps "$dist_steps" --logging-steps 5 --eval-steps 100000 --seed 3)
  for n in 1 2; do
    s=$(date +%s.%N)
    "$bin/dpowb" "${dist_args[@]}" --batch-size $((32 / n)) --nproc "$n" --metrics "$work/dist-$n.jsonl" \
      --out "$work/dist-$n" >"$work/dist-$n.out" 2>"$work/dist-$n.err" || { tail -5 "$work/dist-$n.err" >&2; exit 1; }
    echo "$s $(date +%s.%N)" >"$work/dist-$n.time"
  done
  "$py" - "$work" "$backend" >"$work/dist.json" <<'PY'
import json, os, struct, sys
import torch
work, backend = sys.argv[1], sys.argv[2]
def load_file(path):  # safetensors: 8-byte header length, JSON header, raw little-endian data
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    types = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    return {k: torch.frombuffer(bytearray(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]),
                                dtype=types[v["dtype"]]).double() for k, v in head.items() if k != "__metadata__"}
def tps(n):
    # train rows only: evaluation rows and health warnings (their own lines) have no tokens/s
    rows = [r for r in map(json.loads, open(os.path.join(work, f"dist-{n}.jsonl"))) if "tokens_per_second" in r]
    xs = [r["tokens_per_second"] for r in rows[1:]] or [rows[-1]["tokens_per_second"]]
    return sum(xs) / len(xs)
a = load_file(os.path.join(work, "dist-1", "model.safetensors"))
b = load_file(os.path.join(work, "dist-2", "model.safetensors"))
diff = max(float((a[k] - b[k]).abs().max()) for k in a)
wall = {n: (lambda s, e: e - s)(*map(float, open(os.path.join(work, f"dist-{n}.time")).read().split())) for n in (1, 2)}
print(json.dumps({"backend": backend, "allreduce": json.load(open(os.path.join(work, "allreduce.json"))),
                  "demo_step": {"global_batch": 32, "tokens_per_second_1": round(tps(1)), "tokens_per_second_2": round(tps(2)),
                                "ratio_2_over_1": round(tps(2) / tps(1), 3), "wall_seconds_1": round(wall[1], 1),
                                "wall_seconds_2": round(wall[2], 1), "max_weight_difference": diff}}))
PY
else
  log "4/4 data parallel skipped: $gpus GPU(s) (needs 2)"
fi

"$py" - "$work" "$device" "$bench_model" "$lora" "$t0" <<'PY'
import json, os, sys, time
work, device, bench_model, lora, t0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
load = lambda name: json.load(open(os.path.join(work, name)))
out = {"device": device}
try:
    import torch
    out["torch"] = torch.__version__
    if device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
except Exception as e:  # the summary still comes out
    out["torch_error"] = str(e)
numerics = load("numerics.json")
out["parity_cpu_vs_device"] = numerics["parity"]
out["bf16_vs_float32_step"] = numerics["bf16_step"]
out["cuda_backend"] = numerics.get("cuda_backend")

# The demo: last eval accuracy and margin from the metrics file, wall time of the whole run.
last_eval = {}
for line in open(os.path.join(work, "demo-metrics.jsonl")):
    m = json.loads(line)
    if any(k.startswith("eval_") for k in m):
        last_eval = m
ds, de = map(float, open(os.path.join(work, "demo.time")).read().split())
out["demo"] = {"wall_seconds": round(de - ds, 1), "step": last_eval.get("step"),
               "eval_rewards/accuracies": last_eval.get("eval_rewards/accuracies"),
               "eval_rewards/margins": last_eval.get("eval_rewards/margins")}

# Model FLOPs per step, the same definition for both programs, over the tokens of the rows
# (chosen and rejected, each with its prompt): policy forward + backward 6N (LoRA: 4N, the
# frozen weights get no gradient) + reference forward 2N; attention's own FLOPs not counted.
# bf16 dense peaks (NVIDIA data sheets, without sparsity), by model name.
PEAKS = [("H200", 989.4e12), ("H100 PCIe", 756.0e12), ("H100 NVL", 835.0e12), ("H100", 989.4e12),
         ("A100", 312.0e12), ("L40S", 362.05e12), ("L4", 121.0e12)]
name = out.get("gpu", "")
peak = next((p for k, p in PEAKS if k in name), None) if device == "cuda" else None
measured = load("peak.json")["matmul_gflops"] * 1e9
out["bf16_peak_flops"] = {"data_sheet": peak, "measured_matmul": measured}
bench = {}
for r in (0, lora):
    label = "full" if r == 0 else f"lora_r{r}"
    rows = {}
    for impl in ("cpp", "eager"):
        j = load(f"{impl}-{r}.json")
        n = j["params"]
        tokens = j["tokens_per_step"]
        per_token = (4.0 if r else 6.0) * n + 2.0 * n
        flops = per_token * tokens / j["seconds_per_step"]
        rows[impl] = {"tokens_per_second": round(j["tokens_per_second"]), "seconds_per_step": j["seconds_per_step"],
                      "model_tflops_per_second": round(flops / 1e12, 2),
                      "mfu_vs_data_sheet": round(flops / peak, 3) if peak else None,
                      "mfu_vs_measured_matmul": round(flops / measured, 3),
                      "params": n, "tokens_per_step": tokens}
        if "peak_gpu_mb" in j:
            rows[impl]["peak_gpu_mb"] = round(j["peak_gpu_mb"])
    rows["cpp_over_eager"] = round(rows["eager"]["seconds_per_step"] / rows["cpp"]["seconds_per_step"], 3)
    bench[label] = rows
out["train_bench"] = {"model": bench_model, "dtype": "bfloat16 autocast", **bench}
out["data_parallel"] = load("dist.json") or None
out["wall_seconds_total"] = round(time.time() - t0, 1)
print(json.dumps(out))
PY
