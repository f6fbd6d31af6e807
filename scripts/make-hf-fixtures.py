#!/usr/bin/env python3
"""Writes the Hugging Face reference fixtures of tests/model/tst_hf_logits.cpp: tiny random
checkpoints made and saved by `transformers` itself, in the Hugging Face layout, with the
logits and sequence log-probs `transformers` computes for a right-padded batch. The engine must
load each folder and give the same numbers.

    scripts/install-deps.sh
    ~/.local/share/dpo-workbench/venv/bin/pip install -r scripts/requirements-fixtures.txt
    ~/.local/share/dpo-workbench/venv/bin/python scripts/make-hf-fixtures.py [NAME ...]

CPU, float32, eager attention. Outputs in tests/data/model/hf/<name>/: config.json and
model.safetensors (save_pretrained), expected.json (the batch, the logits at every real
position, each row's summed log-prob over its response positions, and the library versions).
NAMEs (from the list below) write only those folders; each one's seeds come from its place in
the list, so the others are left byte for byte as they are.

    ... scripts/make-hf-fixtures.py --roundtrip build/dpowb

then proves the way back: `dpowb train` (LoRA, two steps on token ids) on the qwen3 fixture
writes a model folder and a PEFT adapter, kept in tests/data/model/hf/roundtrip/{model,adapter};
transformers loads the model, PEFT loads the base named in adapter_config.json with the adapter,
and their logits on the same batch are recorded (roundtrip/expected.json) after checking here
that both agree with each other within 1e-5. tst_hf_logits then checks the engine's.

  llama3    Llama with Llama 3.1 RoPE scaling, GQA: rope_theta 100 and an original context of
            32 put the head's four wavelengths (6.3, 19.9, 62.8, 198.7) in all three bands of
            the rule (kept, interpolated, scaled)
  qwen2     Qwen 2: q/k/v biases, untied head
  qwen3     Qwen 3: per-head RMSNorm of q and k before RoPE, head_dim apart from hidden/heads
  mistral   Mistral with a sliding window shorter than the rows
  gemma3    Gemma 3 text: sliding and full layers with their own RoPE (linear scaling on the
            full ones), a window shorter than the rows, query_pre_attn_scalar apart from
            head_dim, logits soft-capped at 3 (below their size, so the cap bends them)
  gpt2      GPT-2: learned positions, Conv1D layout, tied head
  smollm3   SmolLM3: NoPE layers (no rotation) between RoPE ones, sliding and full layers
            (layer_types) in all four pairings with them, a window shorter than the rows,
            q/k/v/o and MLP biases, tied head

Every parameter is drawn from N(0, 0.2²) (norm weights from 1 + N(0, 0.2²)), so that norms,
biases and every projection change the output; the default initialisation (std 0.02) would
leave logits near zero and hide mistakes.
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "model", "hf")

VOCAB = 96
COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
              rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
              pad_token_id=0)

CONFIGS = {
    "llama3": transformers.LlamaConfig(
        **COMMON, rope_theta=100.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
    "qwen2": transformers.Qwen2Config(**COMMON, rope_theta=1000000.0),
    "qwen3": transformers.Qwen3Config(**{**COMMON, "tie_word_embeddings": True}, head_dim=16,
                                      rope_theta=1000000.0, attention_bias=False),
    "mistral": transformers.MistralConfig(**COMMON, rope_theta=10000.0, sliding_window=5),
    "gemma3": transformers.Gemma3TextConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, rms_norm_eps=1e-6,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"], sliding_window=4,
        query_pre_attn_scalar=12, final_logit_softcapping=3.0, tie_word_embeddings=True,
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 50.0}},
        bos_token_id=2, eos_token_id=1, pad_token_id=0),
    "gpt2": transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                    n_inner=None, activation_function="gelu_new", bos_token_id=1,
                                    eos_token_id=2, pad_token_id=0),
    "smollm3": transformers.SmolLM3Config(
        **{**COMMON, "num_hidden_layers": 4, "tie_word_embeddings": True},
        no_rope_layers=[1, 0, 0, 1], use_sliding_window=True, sliding_window=4,
        layer_types=["full_attention", "sliding_attention", "full_attention", "sliding_attention"],
        attention_bias=True, mlp_bias=True, rope_parameters={"rope_type": "default", "rope_theta": 500.0}),
}

# Three rows: (prompt ids, response ids); right-padded to the longest. Ids avoid the pad id.
def batch_rows(seed):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for prompt_len, response_len in [(4, 7), (6, 3), (3, 5)]:
        ids = torch.randint(3, VOCAB, (prompt_len + response_len,), generator=g).tolist()
        rows.append((ids[:prompt_len], ids[prompt_len:]))
    return rows


def randomise(model, seed, gemma=False):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.2
            is_norm = "norm" in name or ".ln_" in name or name.endswith("ln_f.weight")
            if is_norm and name.endswith("weight") and not gemma:  # Gemma's norms scale by 1 + w
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)


def padded(rows):
    width = max(len(p) + len(r) for p, r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, (p, r) in enumerate(rows):
        seq = p + r
        ids[b, :len(seq)] = torch.tensor(seq)
        mask[b, :len(seq)] = 1
    return ids, mask


def real_logits(logits, rows):
    return [[[round(v, 7) for v in logits[b, t].tolist()] for t in range(len(p) + len(r))]
            for b, (p, r) in enumerate(rows)]


def roundtrip(dpowb, versions):
    import peft
    versions = {**versions, "peft": peft.__version__}
    base = os.path.join(OUT, "qwen3")
    dest = os.path.join(OUT, "roundtrip")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "pairs.jsonl")
        g = torch.Generator().manual_seed(4242)
        with open(data, "w") as f:
            for _ in range(8):
                ids = torch.randint(3, VOCAB, (12,), generator=g).tolist()
                f.write(json.dumps({"prompt_ids": ids[:4], "chosen_ids": ids[4:8], "rejected_ids": ids[8:]}) + "\n")
        out = os.path.join(tmp, "run")
        subprocess.run([dpowb, "train", "--data", data, "--model", base, "--out", out, "--device", "cpu",
                        "--lora-rank", "4", "--lora-alpha", "8", "--lora-target-modules", "q_proj,k_proj,v_proj,o_proj",
                        "--lr", "0.05", "--max-steps", "2", "--batch-size", "4", "--seed", "5"], check=True)
        adapter_config = json.load(open(os.path.join(out, "adapter", "adapter_config.json")))
        named = adapter_config["base_model_name_or_path"]
        assert os.path.realpath(named) == os.path.realpath(base), named
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        shutil.copytree(os.path.join(out, "adapter"), os.path.join(dest, "adapter"))
        # dpowb names the base by its absolute path (checked above), which is this machine's: the
        # committed copy names it relative to the repository root, where the tests and this
        # script run, so that PEFT finds it in any clone.
        committed = os.path.join(dest, "adapter", "adapter_config.json")
        adapter_config["base_model_name_or_path"] = os.path.relpath(base, ROOT)
        with open(committed, "w") as f:
            json.dump(adapter_config, f, indent=2, sort_keys=True)
            f.write("\n")
        os.makedirs(os.path.join(dest, "model"))
        for name in ("config.json", "model.safetensors"):
            shutil.copy(os.path.join(out, name), os.path.join(dest, "model", name))

    rows = batch_rows(5150)
    ids, mask = padded(rows)
    merged = AutoModelForCausalLM.from_pretrained(os.path.join(dest, "model"), dtype=torch.float32,
                                                  attn_implementation="eager").eval()
    base_model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        plain = base_model(input_ids=ids, attention_mask=mask).logits.float()
    with_adapter = peft.PeftModel.from_pretrained(base_model, os.path.join(dest, "adapter")).eval()
    with torch.no_grad():
        a = merged(input_ids=ids, attention_mask=mask).logits.float()
        b = with_adapter(input_ids=ids, attention_mask=mask).logits.float()
    live = [(b_, t) for b_, (p, r) in enumerate(rows) for t in range(len(p) + len(r))]
    diff = max((a[b_, t] - b[b_, t]).abs().max().item() for b_, t in live)
    assert diff <= 1e-5, f"transformers (merged model) and PEFT (base + adapter) differ by {diff}"
    moved = max((b[b_, t] - plain[b_, t]).abs().max().item() for b_, t in live)
    assert moved > 1e-3, f"the adapter barely changes the logits ({moved}): the check would prove little"
    with open(os.path.join(dest, "expected.json"), "w") as f:
        json.dump({"generator": "scripts/make-hf-fixtures.py --roundtrip", "versions": versions,
                   "base": "qwen3", "pad_id": 0, "transformers_vs_peft": diff, "adapter_moves_logits_by": moved,
                   "rows": [{"prompt": p, "response": r} for p, r in rows],
                   "model_logits": real_logits(a, rows), "peft_logits": real_logits(b, rows)},
                  f, separators=(",", ":"))
        f.write("\n")
    print(f"roundtrip: transformers (dpowb's merged model) vs PEFT (base + dpowb's adapter): max |difference| {diff:.3g}; "
          f"the adapter moves the logits by up to {moved:.3g}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--roundtrip", metavar="DPOWB", help="also the dpowb round trip, with this dpowb binary")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="write only these fixtures (default: all): " + ", ".join(CONFIGS))
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown fixture {', '.join(unknown)} (known: {', '.join(CONFIGS)})")
    versions = {"transformers": transformers.__version__, "torch": torch.__version__}
    for i, (name, config) in enumerate(CONFIGS.items()):
        if args.names and name not in args.names:
            continue
        torch.manual_seed(1000 + i)
        config._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
        model.eval()
        randomise(model, 2000 + i, gemma=config.model_type.startswith("gemma"))
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        for extra in ("generation_config.json",):
            path = os.path.join(folder, extra)
            if os.path.exists(path):
                os.remove(path)

        rows = batch_rows(3000 + i)
        ids, mask = padded(rows)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logps = torch.log_softmax(logits, dim=-1)
        expected_rows = []
        for b, (p, r) in enumerate(rows):
            n = len(p) + len(r)
            # Position t's token is predicted by position t - 1: responses from len(p) on.
            total = sum(logps[b, t - 1, ids[b, t]].item() for t in range(len(p), n))
            expected_rows.append({"prompt": p, "response": r, "logits": real_logits(logits, rows)[b],
                                  "response_logp": total})
        with open(os.path.join(folder, "expected.json"), "w") as f:
            json.dump({"generator": "scripts/make-hf-fixtures.py", "versions": versions, "model_type": config.model_type,
                       "pad_id": 0, "rows": expected_rows}, f, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters -> {folder}")
    if args.roundtrip:
        roundtrip(os.path.abspath(args.roundtrip), versions)


if __name__ == "__main__":
    main()
